"""Lowering: statements in index notation become array operations over whole arrays."""

from __future__ import annotations

import sympy as sp

from symbp.kernel.lower import AXIS_ORDER, Contract, Elementwise, Operand, Total, free_axes, lower, lower_kernel, stored_axes
from symbp.kernel.programs import Statement, kernel_programs
from symbp.spec.network import make_spec
from tests.helpers import derive
from symbp.symbolic.model import build, i, j, k, m


def test_a_pre_activation_is_a_matrix_product_plus_a_bias() -> None:
    model = build(make_spec(hidden=3))
    operations = lower([Statement("a", (i, m), model.pre_def(model.layer(2), i, m))])
    assert operations[0] == Contract(Operand("_c0", (m, i)), (Operand("W2", (m, j)), Operand("x", (i, j))), (j,))
    assert operations[1] == Elementwise(Operand("a", (m, i)), sp.IndexedBase("_c0")[m, i] + sp.IndexedBase("b2", real=True)[m])


def test_the_samples_axis_comes_last_except_for_the_data() -> None:
    assert AXIS_ORDER[-2:] == (j, i)
    assert stored_axes("delta1", (i, k)) == (k, i)
    assert stored_axes("x", (i, j)) == (i, j)  # X is stored as the user gives it, (n, p)


def test_a_gradient_is_named_directly_by_its_contraction() -> None:
    lowered = lower_kernel(kernel_programs(derive(hidden=3)))
    names = [op.target if isinstance(op, Total) else op.target.name for op in lowered.grad]
    assert names == ["R", "delta1", "_c0", "delta2", "gW1", "gb1", "gW2", "gb2"]
    assert lowered.grad[-1] == Contract(Operand("gb2", (m,)), (Operand("delta2", (m, i)),), (i,))


def test_free_axes_leave_out_summed_indices() -> None:
    W1, h = sp.IndexedBase("W1"), sp.IndexedBase("h")
    m_bound = sp.Symbol("m'", integer=True, positive=True)
    assert free_axes(sp.Sum(W1[k, m_bound] * h[i, m_bound], (m_bound, 1, 3))) == {k, i}
