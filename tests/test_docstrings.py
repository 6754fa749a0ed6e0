"""The examples in symbp's docstrings run and say what they show (those marked +SKIP need files or a cluster)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.helpers import ROOT, SLOW

MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for path in (ROOT / "symbp").rglob("*.py")
)
#: Modules whose examples derive or emit a network: a second or more each, so they run with the slow tests.
DERIVING = {
    "symbp.checker.check", "symbp.symbolic.derivation", "symbp.kernel.emit", "symbp.kernel.programs", "symbp.symbolic.matrix",
    "symbp.symbolic.matrix_numpy", "symbp.latex.matrix", "symbp.training.fit", "symbp.symbolic.derivatives", "symbp.checker.difference",
}


@pytest.mark.parametrize("name", [pytest.param(name, marks=SLOW) if name in DERIVING else name for name in MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail: run python -m doctest -v on it"
