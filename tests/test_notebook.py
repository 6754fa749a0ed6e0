"""The example notebook runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import under_ci

NOTEBOOK = Path(__file__).parent.parent / "examples" / "symbp.ipynb"


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        if under_ci():
            pytest.fail(f"{module} is missing under CI: the test extras must install it")
        pytest.skip(f"{module} not installed (pip install -e '.[test]')")


def test_notebook_is_committed_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_notebook_runs_in_a_jupyter_kernel(tmp_path) -> None:
    nbformat = _require("nbformat")
    nbclient = _require("nbclient")
    _require("ipykernel")
    _require("matplotlib")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    derivation = next(cell for cell in code if cell.source.startswith("d = symbp.derive"))
    latex = [out for out in derivation.outputs if "text/latex" in out.get("data", {})]
    assert latex and "\\frac{\\partial R}{\\partial W^{2}_{mj}}" in latex[0]["data"]["text/latex"]
    plot = code[-1]
    assert any("image/png" in out.get("data", {}) for out in plot.outputs)
