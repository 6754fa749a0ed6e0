"""The exception classes: user mistakes are ValueErrors with one line; an internal error says it is a bug."""

from __future__ import annotations

import pytest

from symbp.errors import DataError, ExpressionError, InternalError, KernelError, SpecError, SymbpError, UserError


@pytest.mark.parametrize("kind", [SpecError, ExpressionError, DataError, KernelError])
def test_user_mistakes_are_value_errors(kind) -> None:
    assert issubclass(kind, UserError) and issubclass(kind, ValueError) and issubclass(kind, SymbpError)


def test_an_internal_error_says_it_is_a_bug() -> None:
    error = InternalError("the schedule lost an operation")
    assert not isinstance(error, UserError) and isinstance(error, RuntimeError)
    assert str(error) == "internal error (this is a bug in symbp, please report it): the schedule lost an operation"
