"""The names of the built-in activations and output functions, without SymPy.

The command line shows them in its help; keeping them here lets ``symbp train``
start without importing SymPy.  :mod:`symbp.spec.functions` attaches the expressions.
"""

from __future__ import annotations

from symbp.errors import SpecError

ACTIVATION_NAMES = ("identity", "sigmoid", "tanh", "relu", "softplus")
OUTPUT_NAMES = ("identity", "sigmoid", "tanh", "exp")

#: The views of the gradients in LaTeX: one generic component each, or matrix products.
VIEWS = ("component", "matrix")


def check_view(view: str) -> str:
    """``view`` if it is one of :data:`VIEWS`, else a SpecError naming them."""
    if view not in VIEWS:
        raise SpecError(f"unknown view {view!r}: choose {' or '.join(VIEWS)}")
    return view
