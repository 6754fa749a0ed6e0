"""The matrix view's translation: statements by part, every depth; the form evaluated with NumPy (tests/symbolic/test_matrix_numpy.py)."""

from __future__ import annotations

from symbp.latex.matrix import matrix_lines
from symbp.symbolic.matrix import Part, matrix_form
from tests.helpers import SLOW, derive


@SLOW
def test_every_depth_gives_forward_backward_and_gradient_lines() -> None:
    for hidden in [(3,), (3, 2), (2, 2, 2), (2, 2, 2, 2)]:
        d = derive(hidden=hidden, sigma="tanh")
        form = matrix_form(d)
        layers = len(hidden) + 1
        parts = [st.part for st in form.statements]
        assert parts == [Part.FORWARD] * 2 * layers + [Part.BACKWARD] * layers + [Part.GRADIENT] * 2 * layers
        assert len(matrix_lines(d)) == 5 * layers
