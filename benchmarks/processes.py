"""Running Python in fresh processes, with this checkout importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: The repository root, put on the subprocesses' path so that an uninstalled checkout works too.
ROOT: Path = Path(__file__).resolve().parent.parent


def run_python(*args: str, environment: dict[str, str] | None = None) -> tuple[float, str]:
    """Run ``python args`` in a fresh process from the repository root; its wall time and standard output.

    ``environment`` adds to (or overrides) this process's variables, e.g. thread counts.

    Raises:
        RuntimeError: the process failed; the message carries its standard error.
    """
    variables = dict(os.environ) | (environment or {})
    variables["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), variables.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=variables, cwd=ROOT, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess {' '.join(args[:2])} failed with status {done.returncode}:\n{done.stderr}")
    return seconds, done.stdout


def last_json(stdout: str) -> dict[str, object]:
    """The JSON object a benchmark subprocess prints on its last line of standard output."""
    return json.loads(stdout.strip().splitlines()[-1])
