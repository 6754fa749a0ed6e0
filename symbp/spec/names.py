"""The names of the built-in activations and output functions, without SymPy.

The command line shows them in its help; keeping them here lets ``symbp train``
start without importing SymPy.  :mod:`symbp.expressions` attaches the expressions.
"""

from __future__ import annotations

ACTIVATION_NAMES = ("identity", "sigmoid", "tanh", "relu", "softplus")
OUTPUT_NAMES = ("identity", "sigmoid", "tanh", "exp")

#: The views of the gradients in LaTeX: one generic component each, or matrix products.
VIEWS = ("component", "matrix")
