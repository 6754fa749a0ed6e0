"""symbp: backpropagation derived by SymPy, printed as LaTeX and as NumPy kernels.

The three uses, from Python::

    import symbp
    d = symbp.derive(hidden=3, sigma="tanh", g="identity")   # SymPy derives ∇₁R and ∇₂R
    print(d.latex())                                          # the formulas as LaTeX
    k = symbp.load_kernel(symbp.emit(d, "generated"))         # a NumPy gradient kernel
    result = symbp.train(k, X, y, steps=2000, step_size="armijo")
"""

from __future__ import annotations

from symbp.derive import Derivation, derive
from symbp.errors import (
    DataError,
    ExpressionError,
    InternalError,
    KernelError,
    SpecError,
    SymbpError,
    UserError,
)
from symbp.emit import emit
from symbp.load import load_kernel
from symbp.spec import Spec, make_spec
from symbp.train import train

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "Derivation",
    "ExpressionError",
    "InternalError",
    "KernelError",
    "Spec",
    "SpecError",
    "SymbpError",
    "UserError",
    "derive",
    "emit",
    "load_kernel",
    "make_spec",
    "train",
]
