"""Compiling a LaTeX document to PDF with a real pdflatex."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from symbp.errors import InternalError, UserError
from symbp.files import write_bytes_atomic

PDFLATEX_TIMEOUT = 120


def pdflatex_path() -> str | None:
    """The pdflatex on PATH, or None."""
    return shutil.which("pdflatex")


def compile_pdf(source: str, target: Path) -> Path:
    """Compile the LaTeX ``source`` and write the PDF to ``target`` (atomically).

    Raises:
        UserError: pdflatex is not installed.
        InternalError: pdflatex reported an error (symbp produced invalid LaTeX).
    """
    pdflatex = pdflatex_path()
    if pdflatex is None:
        raise UserError("pdflatex was not found on PATH: install TeX Live (for example 'apt-get install texlive-latex-base') or leave out --pdf")
    with tempfile.TemporaryDirectory(prefix="symbp-tex-") as work:
        tex = Path(work) / "derivation.tex"
        tex.write_text(source, encoding="utf-8")
        try:
            run = subprocess.run(
                [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", tex.name],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=PDFLATEX_TIMEOUT,
                stdin=subprocess.DEVNULL,
                # A fixed date makes the PDF the same bytes on every run.
                env={**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"},
            )
        except subprocess.TimeoutExpired as err:
            raise InternalError(f"pdflatex did not finish within {PDFLATEX_TIMEOUT} s") from err
        log = (Path(work) / "derivation.log").read_text(encoding="utf-8", errors="replace") if (Path(work) / "derivation.log").exists() else run.stdout
        problems = latex_problems(log)
        pdf = Path(work) / "derivation.pdf"
        if run.returncode != 0 or problems or not pdf.exists():
            raise InternalError("pdflatex failed on the generated document: " + ("; ".join(problems) or f"exit status {run.returncode}"))
        write_bytes_atomic(target, pdf.read_bytes())
    return Path(target)


def latex_problems(log: str) -> list[str]:
    """Errors and undefined control sequences reported in a pdflatex log."""
    problems = []
    for line in log.splitlines():
        if line.startswith("!") or "Undefined control sequence" in line:
            problems.append(line.strip())
    return problems
