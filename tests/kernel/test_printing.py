"""Printing a scheduled body: exact lines, in-place chains, temporaries placed before use."""

from __future__ import annotations

import pytest
import sympy as sp

from symbp.errors import InternalError
from symbp.kernel.context import layout
from symbp.kernel.lower import Elementwise, Operand, lower_kernel
from symbp.kernel.printing import Buffers, print_schedule
from symbp.kernel.programs import kernel_programs
from symbp.kernel.schedule import schedule
from tests.helpers import derive
from symbp.symbolic.model import i, k, m

UNIT = frozenset({k})


def printed(part: str, **spec):
    lowered = lower_kernel(kernel_programs(derive(**spec)))
    return print_schedule(schedule(getattr(lowered, part), part in ("loss", "grad"), UNIT))


def test_forward_pass_lines() -> None:
    block = printed("forward", hidden=3)
    assert block.lines == ("_c0 = W2 @ X.T", "_c0 += b2[:, None]", "a = _c0", "h = _tanh(a)", "_c1 = W1 @ h", "_c1 += b1[:, None]", "z = _c1", "f = z")
    assert block.setup == () and not block.uses_ones and block.modules == set()  # tanh is the kernel's own
    assert block.functions == {"_tanh"}


def test_loss_and_gradient_block_lines() -> None:
    block = printed("grad", hidden=3)
    assert block.lines == (
        "_t0 = numpy.subtract(f, Y.T)",
        "R = float(numpy.vdot(_t0, _t0))",
        "delta1 = numpy.multiply(_t0, 2.0)",
        # Each sum over the samples as soon as its operands are there (still in cache).
        "gW1 = numpy.dot(delta1, h.T)",
        "gb1 = numpy.dot(delta1, _ones)",
        # d = 1: the outer product W1.T * delta1 (M × n) is not made; delta2 is multiplied by each factor.
        "delta2 = numpy.square(h)",
        "numpy.subtract(1.0, delta2, out=delta2)",
        "numpy.multiply(delta2, W1.T, out=delta2)",
        "numpy.multiply(delta2, delta1, out=delta2)",
        "gW2 = numpy.dot(delta2, X)",
        "gb2 = numpy.dot(delta2, _ones)",
    )
    assert block.setup == ("_ones = _ONES[:X.shape[0]] if X.shape[0] <= _ONES.size else numpy.ones(X.shape[0])",)
    assert block.uses_ones


def test_with_buffers_every_new_array_over_the_samples_is_a_kept_one() -> None:
    lowered = lower_kernel(kernel_programs(derive(hidden=(4, 3), outputs=2)))
    sizes = layout(derive(hidden=(4, 3), outputs=2)).sizes
    lines = print_schedule(schedule(lowered.grad, True, frozenset()), Buffers(sizes, "grad")).lines
    # d = 2: W1.T @ delta1 is a matrix product, into its buffer; each chain's first call writes into one.
    assert 'delta1 = numpy.multiply(_t0, 2.0, out=buffer("grad.delta1", D))' in lines
    assert any(line.startswith("_c0 = numpy.matmul(W1.T, delta1, out=buffer(\"grad._c0\", M") for line in lines)
    made = [line for line in lines if " = numpy." in line and "out=" not in line]
    # Only the gradients' sums over the samples (no samples axis left) are new arrays.
    assert made and all(line.startswith("g") and "numpy.dot(" in line for line in made), made
    forward = print_schedule(schedule(lowered.forward, False, frozenset()), Buffers(sizes, "forward")).lines
    assert forward[0].startswith('_c0 = numpy.matmul(W3, X.T, out=buffer("forward._c0", M')


def test_the_logistic_is_the_kernels_own_function_computed_in_place() -> None:
    block = printed("forward", hidden=2, sigma="sigmoid")
    assert block.lines[3] == "h = _logistic(a)" and block.functions == {"_logistic"}


def test_the_penalty_updates_a_gradient_that_reads_itself_as_one_expression() -> None:
    block = printed("grad_final", hidden=2, l2=0.5)
    assert block.lines == ("gW1 = W1 + gW1", "gW2 = W2 + gW2")


def test_a_blocked_body_cannot_compute_after_a_sum_over_samples() -> None:
    a = sp.IndexedBase("a")
    operation = Elementwise(Operand("g", (m,)), a[m] * 2)
    with pytest.raises(InternalError, match="after a sum over samples"):
        print_schedule(schedule((operation,), blocked=True))
    assert i  # the samples axis is what a blocked body must keep
