"""The kernel's programs: the statements of each kernel function, taken from the derivation."""

from __future__ import annotations

import sympy as sp

from symbp.kernel.programs import BLOCKED, Blocks, kernel_programs
from tests.helpers import derive
from symbp.symbolic.model import LAMBDA, R_symbol, i, j, k, m
from symbp.symbolic.stable import Logistic


def test_each_function_gets_the_statements_of_the_derivation() -> None:
    programs = kernel_programs(derive(hidden=3))
    assert [(st.name, st.axes) for st in programs.forward] == [("a", (i, m)), ("h", (i, m)), ("z", (i, k)), ("f", (i, k))]
    assert [st.name for st in programs.loss] == ["R"] and programs.loss[0].total
    # loss_and_grad's block computes R and the backward pass together, so that they share temporaries.
    assert [st.name for st in programs.grad] == ["R", "delta1", "delta2", "gW1", "gb1", "gW2", "gb2"]
    assert [(st.name, st.axes) for st in programs.grad][-2:] == [("gW2", (m, j)), ("gb2", (m,))]
    assert programs.loss_final == () and programs.grad_final == ()


def test_the_penalty_is_added_once_with_the_spec_s_exact_lambda() -> None:
    programs = kernel_programs(derive(hidden=2, l2=0.25))
    (loss_final,) = programs.loss_final
    assert loss_final.expr.has(R_symbol) and not loss_final.expr.has(LAMBDA)
    assert loss_final.expr.has(sp.Rational(1, 4))
    assert [st.name for st in programs.grad_final] == ["gW1", "gW2"]


def test_statements_are_stabilised() -> None:
    # The logistic in f = σ(z) is kept whole, to be printed in its overflow-free form.
    programs = kernel_programs(derive(hidden=2, g="sigmoid"))
    assert programs.forward[-1].expr.has(Logistic)


def test_blocks_map_tells_which_bodies_run_per_block() -> None:
    blocks = Blocks(forward=1, loss=2, grad=3, loss_final=4, grad_final=5)
    assert blocks.map(lambda value, blocked: (value, blocked)).values() == ((1, False), (2, True), (3, True), (4, False), (5, False))
    assert BLOCKED == {"loss", "grad"}
