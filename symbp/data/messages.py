"""The one-line messages of the data stage: the error they travel in, quoting, what each file kind should hold.

Every data error names the file, the place in it and what was expected; the
helpers here keep such a message on one line (the command line prints it as
one) and cut quoted cells to a readable length.
"""

from __future__ import annotations

from collections.abc import Iterable

from symbp.errors import DataError

__all__ = ["MAX_QUOTE", "constant_target_message", "data_error", "expected_contents", "quote", "quote_list"]

#: Longest cell text quoted in a message; longer cells are cut with "...".
MAX_QUOTE = 40

_EXPECTED_CONTENTS = {
    ".csv": "a header row of column names and rows of numbers",
    ".npy": "a 2-D numeric array saved with numpy.save",
    ".npz": "arrays 'X' and 'y' saved with numpy.savez",
}


def data_error(message: str) -> DataError:
    """A :class:`~symbp.errors.DataError` whose message is guaranteed to be one line.

    Args:
        message: The text; line breaks in it (from a quoted cell, say) are escaped.

    Returns:
        The exception, to be raised by the caller.

    Example:
        >>> str(data_error("d.csv line 3: cell 'a\\nb'"))
        "d.csv line 3: cell 'a\\\\nb'"
    """
    return DataError(message.replace("\r", "\\r").replace("\n", "\\n"))


def quote(text: str) -> str:
    """``repr()`` of the text, cut to :data:`MAX_QUOTE` characters; repr keeps newlines escaped.

    Args:
        text: A cell or a column name.

    Returns:
        The quoted text.

    Example:
        >>> quote("bmi")
        "'bmi'"
    """
    if len(text) > MAX_QUOTE:
        text = text[: MAX_QUOTE - 3] + "..."
    return repr(text)


def quote_list(names: Iterable[str]) -> str:
    """The names quoted and separated by commas, for "available columns are ...".

    Args:
        names: Column or array names.

    Returns:
        The list as text.

    Example:
        >>> quote_list(["a", "y"])
        "'a', 'y'"
    """
    return ", ".join(quote(name) for name in names)


def expected_contents(suffix: str) -> str:
    """What a file of the given kind should hold, for the end of a message.

    Args:
        suffix: One of ``.csv``, ``.npy``, ``.npz``.

    Returns:
        The description.

    Example:
        >>> expected_contents(".npy")
        'a 2-D numeric array saved with numpy.save'
    """
    return _EXPECTED_CONTENTS[suffix]


def constant_target_message(subject: str, value: float) -> str:
    """The message for a target whose values are all equal (the local and the cluster readers word the subject).

    Args:
        subject: What is constant, with the file in front (``"d.csv, target column 'y': the target"``).
        value: The one value of every row.

    Returns:
        The message.

    Example:
        >>> constant_target_message("d.npz: the target", 2.5)[:42]
        'd.npz: the target is constant (every row i'
    """
    return (
        f"{subject} is constant (every row is {value:g}), so a network cannot learn anything "
        "from it; choose a target column whose values vary"
    )
