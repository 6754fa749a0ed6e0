"""The exceptions symbp raises.

User mistakes (a bad spec, a malformed expression, unusable data) are
:class:`UserError` and subclass :class:`ValueError`; their message is one line
that says what is wrong and what is allowed.  The command line prints that line
and exits with status 2.  :class:`InternalError` means a bug in symbp itself.
"""

from __future__ import annotations


class SymbpError(Exception):
    """Base class of every exception raised by symbp."""


class UserError(SymbpError, ValueError):
    """Something the user gave cannot be used; the message says how to fix it."""


class SpecError(UserError):
    """A network specification (hidden size, activation, output function, ...) is invalid."""


class ExpressionError(UserError):
    """A σ or g expression typed by the user is malformed or not allowed."""


class DataError(UserError):
    """A data file or array cannot be used for training."""


class KernelError(UserError):
    """A generated kernel cannot be loaded or does not fit the data."""


class InternalError(SymbpError, RuntimeError):
    """A bug in symbp: the message says so and asks for a report."""

    def __init__(self, message: str) -> None:
        super().__init__(f"internal error (this is a bug in symbp, please report it): {message}")
