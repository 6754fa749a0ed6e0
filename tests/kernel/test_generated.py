"""generated/ holds the standard kernels exactly as the current generator writes them.

Run ``python -m pytest tests/kernel/test_generated.py --update-golden`` to rewrite them.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from symbp.kernel.standard import standard_kernels

ROOT = Path(__file__).parents[2]
GENERATED = ROOT / "generated"


def test_generated_kernels_are_up_to_date(update_golden: bool) -> None:
    expected = standard_kernels()
    if update_golden:
        for name, text in expected.items():
            (GENERATED / name).write_text(text, encoding="utf-8")
    problems = []
    for name, text in expected.items():
        path = GENERATED / name
        actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual != text:
            diff = "".join(difflib.unified_diff(actual.splitlines(True), text.splitlines(True), f"generated/{name}", f"regenerated/{name}"))
            problems.append(diff or f"generated/{name} is missing")
    extra = sorted(p.name for p in GENERATED.glob("*.py") if p.name not in expected)
    assert not extra, f"generated/ holds kernels that are not standard specs: {extra}"
    assert not problems, "generated/ is stale; rerun with --update-golden:\n" + "\n".join(problems)


def _function(text: str, name: str) -> str:
    """The source of a top-level function ``name`` in ``text``: from its ``def`` to its last body line."""
    lines = text[text.index(f"def {name}(") :].splitlines()
    body = [lines[0]] + [line for line in lines[1:][: next((i for i, line in enumerate(lines[1:]) if line and not line.startswith(" ")), None)]]
    return "\n".join(body).rstrip()


def test_the_readme_shows_the_kernel_as_generated() -> None:
    # The README quotes the block function of the reference kernel; it must stay what the generator writes.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    kernel = (GENERATED / "tanh_identity_m3.py").read_text(encoding="utf-8")
    assert _function(readme, "_loss_and_grad_block") == _function(kernel, "_loss_and_grad_block")
