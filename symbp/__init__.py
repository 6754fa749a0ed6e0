"""symbp: backpropagation derived by SymPy, printed as LaTeX and as NumPy kernels.

The three uses, from Python::

    import symbp
    d = symbp.derive(hidden=3, sigma="tanh", g="identity")   # SymPy derives ∇₁R and ∇₂R
    print(d.latex())                                          # the formulas as LaTeX
    k = symbp.load_kernel(symbp.emit(d, "generated"))         # a NumPy gradient kernel
    result = symbp.train(k, X, y, steps=2000, step_size="armijo")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symbp.errors import (
    DataError,
    ExpressionError,
    InternalError,
    KernelError,
    SpecError,
    SymbpError,
    UserError,
)
from symbp.kernel.load import load_kernel
from symbp.version import __version__

if TYPE_CHECKING:
    from symbp.prediction import evaluate, predict
    from symbp.training.fit import train
    from symbp.checker.check import CheckResult, check
    from symbp.symbolic.derivation import Derivation, derive
    from symbp.kernel.emit import emit
    from symbp.spec.network import Spec, make_spec

# The SymPy side (deriving, emitting, specs) is imported on first use: loading a
# kernel and training with it never pay for importing SymPy.  Training (NumPy) too,
# so that ``python -m symbp.cli`` is in its own code, where Ctrl-C is one line, within milliseconds.
_LAZY = {
    "train": "symbp.training.fit",
    "predict": "symbp.prediction",
    "evaluate": "symbp.prediction",
    "CheckResult": "symbp.checker.check",
    "check": "symbp.checker.check",
    "Derivation": "symbp.symbolic.derivation",
    "derive": "symbp.symbolic.derivation",
    "emit": "symbp.kernel.emit",
    "Spec": "symbp.spec.network",
    "make_spec": "symbp.spec.network",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symbp' has no attribute {name!r}")



__all__ = [
    "__version__",
    "CheckResult",
    "DataError",
    "Derivation",
    "ExpressionError",
    "InternalError",
    "KernelError",
    "Spec",
    "SpecError",
    "SymbpError",
    "UserError",
    "check",
    "derive",
    "emit",
    "evaluate",
    "load_kernel",
    "make_spec",
    "predict",
    "train",
]
