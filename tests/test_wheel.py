"""symbp installed from its wheel (not editable) works outside the checkout: templates and data travel inside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_wheel_install_runs_demo_and_emit_outside_the_checkout(tmp_path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run([str(python), "-c", "import symbp, symbp.render as r; print(symbp.__file__); print(r.templates_dir())"], capture_output=True, text=True, cwd=work, env=env, timeout=120)
    module_file, templates = where.stdout.split()
    assert Path(module_file).is_relative_to(venv) and Path(templates).is_relative_to(venv), where.stdout
    symbp = venv / "bin" / "symbp"
    demo = subprocess.run([str(symbp), "demo"], capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "mean-only predictor" in demo.stdout and (work / "symbp-demo" / "tanh_identity_m8_p10.py").exists()
    emit = subprocess.run([str(symbp), "emit", "--hidden", "3", "--sigma", "x/(1+exp(-x))"], capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert emit.returncode == 0, emit.stderr
    assert (work / emit.stdout.strip()).exists()
