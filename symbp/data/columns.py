"""Which columns are inputs and which are targets: header checks and target resolution.

One implementation for both readers of a file: :func:`symbp.data.load` in
this process and :func:`symbp.cluster.read_data` on a Dask cluster, so that
a bad header or target gets the same message from either.  A CSV file names
its targets by column name; a ``.npy`` file by column index written as digits.
One target gives ``y`` of shape ``(n,)``, two or more ``(n, d)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from symbp.data.messages import constant_target_message, data_error, quote, quote_list

__all__ = [
    "check_header",
    "check_not_constant",
    "csv_feature_columns",
    "csv_target_names",
    "inputs_and_targets",
    "npy_feature_columns",
    "npy_target_columns",
    "take_inputs_and_targets",
]


def check_header(header: list[str], line: int, source: str) -> list[str]:
    """Strip the column names of a CSV header and reject empty or repeated ones.

    Args:
        header: The cells of the header row as the CSV reader split them.
        line: The header's 1-based line number in the file, for messages.
        source: The file name as the user gave it.

    Returns:
        The column names, stripped of surrounding spaces.

    Raises:
        DataError: A name is empty or repeated, or the header is one column
            holding ';' or a tab (a file separated by something else than commas).

    Example:
        >>> check_header([" a", "y "], 1, "d.csv")
        ['a', 'y']
    """
    names = [name.strip() for name in header]
    if len(names) == 1 and any(sep in names[0] for sep in (";", "\t")):
        raise data_error(f"{source} line {line}: the header is one column {quote(names[0])}; symbp reads comma-separated files: replace ';' or tabs with ','")
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            raise data_error(f"{source} line {line}, column {j + 1}: empty column name; every column needs a name")
        if name in seen:
            raise data_error(
                f"{source} line {line}, column {j + 1}: duplicate column name {quote(name)} "
                f"(also column {seen[name] + 1}); column names must be unique"
            )
        seen[name] = j
    return names


def csv_target_names(
    target: str | Sequence[str] | None, names: list[str], line: int, source: str
) -> tuple[list[str], bool]:
    """Resolve the target argument of a CSV file to column names.

    Args:
        target: A column name, or a sequence of names for several targets.
        names: The file's column names (from :func:`check_header`).
        line: The header's line number, for messages.
        source: The file name as the user gave it.

    Returns:
        The target names (stripped, in the order given) and whether ``y`` is
        1-D (a single target).

    Raises:
        DataError: No target was chosen, the list is empty, a name is not a
            string, not a column, or named twice.

    Example:
        >>> csv_target_names(["y"], ["a", "y"], 1, "d.csv")
        (['y'], True)
    """
    if target is None:
        raise data_error(
            f"{source}: no target column chosen; pass --target NAME (target= in Python) "
            f"with one of the columns {quote_list(names)}, or NAME1,NAME2 for several outputs"
        )
    wanted = [target] if isinstance(target, str) else list(target)
    if not wanted:
        raise data_error(f"{source}: the list of target columns is empty; name at least one of {quote_list(names)}")
    for name in wanted:
        if not isinstance(name, str):
            raise data_error(f"{source}: target {name!r} is not a column name; name one of {quote_list(names)}")
    wanted = [name.strip() for name in wanted]
    for name in wanted:
        if name not in names:
            raise data_error(
                f"{source} line {line}: target column {quote(name)} not found; "
                f"available columns are {quote_list(names)}"
            )
    repeated = next((name for k, name in enumerate(wanted) if name in wanted[:k]), None)
    if repeated is not None:
        raise data_error(f"{source}: target column {quote(repeated)} is named twice; name each target once")
    return wanted, len(wanted) == 1


def csv_feature_columns(names: list[str], target_names: list[str], line: int, source: str) -> list[int]:
    """The indices of the input columns of a CSV file: every column that is not a target.

    Args:
        names: The file's column names.
        target_names: The targets (from :func:`csv_target_names`).
        line: The header's line number, for messages.
        source: The file name as the user gave it.

    Returns:
        The input columns' indices, in file order.

    Raises:
        DataError: Every column is a target.

    Example:
        >>> csv_feature_columns(["a", "y", "b"], ["y"], 1, "d.csv")
        [0, 2]
    """
    target_cols = [names.index(t) for t in target_names]
    feature_cols = [j for j in range(len(names)) if j not in target_cols]
    if not feature_cols:
        raise data_error(
            f"{source} line {line}: no feature columns left after taking the target "
            f"{quote_list(target_names)}; the file needs at least one input column besides the target"
        )
    return feature_cols


def npy_target_columns(target: str | Sequence[str] | None, width: int, source: str) -> tuple[list[int], bool]:
    """Resolve the target argument of a ``.npy`` file to column indices.

    Args:
        target: None for the last column, a column index written as digits
            (counting from 0), or a sequence of them.
        width: The array's number of columns.
        source: The file name as the user gave it.

    Returns:
        The target columns (in the order given) and whether ``y`` is 1-D.

    Raises:
        DataError: The list is empty, an item is not digits, out of range, or
            named twice.

    Example:
        >>> npy_target_columns(None, 4, "d.npy"), npy_target_columns(["0", "2"], 4, "d.npy")
        (([3], True), ([0, 2], False))
    """
    if target is None:
        return [width - 1], True
    wanted = [target] if isinstance(target, str) else list(target)
    if not wanted:
        raise data_error(f"{source}: the list of target columns is empty; give at least one column index")
    cols: list[int] = []
    for item in wanted:
        text = item.strip() if isinstance(item, str) else ""
        if not (text.isascii() and text.isdigit()):
            raise data_error(
                f"{source}: target {item!r} is not a column index; for .npy files give the target "
                f"column as digits, counting from 0 (0..{width - 1})"
            )
        col = int(text)
        if col >= width:
            raise data_error(
                f"{source}: target column {col} is out of range; the array has {width} columns (0..{width - 1})"
            )
        if col in cols:
            raise data_error(f"{source}: target column {col} is named twice; name each target once")
        cols.append(col)
    return cols, len(cols) == 1


def npy_feature_columns(target_cols: list[int], width: int, source: str) -> list[int]:
    """The indices of the input columns of a ``.npy`` array: every column that is not a target.

    Args:
        target_cols: The targets (from :func:`npy_target_columns`).
        width: The array's number of columns.
        source: The file name as the user gave it.

    Returns:
        The input columns' indices, in array order.

    Raises:
        DataError: Every column is a target.

    Example:
        >>> npy_feature_columns([1], 3, "d.npy")
        [0, 2]
    """
    feature_cols = [j for j in range(width) if j not in target_cols]
    if not feature_cols:
        raise data_error(
            f"{source}: no feature columns left after taking target column(s) {target_cols} of {width}; "
            "the array needs at least one input column besides the target"
        )
    return feature_cols


def check_not_constant(column: np.ndarray, where: str) -> None:
    """Refuse a target column whose values are all equal: there is nothing to learn.

    Args:
        column: The target's values.
        where: The file and column, for the message (``"d.csv, target column 'y'"``).

    Raises:
        DataError: Every value is the same.

    Example:
        >>> check_not_constant(np.array([1.0, 2.0]), "d.csv, target column 'y'")
    """
    if np.ptp(column) == 0:
        raise data_error(constant_target_message(f"{where}: the target", column[0]))


def inputs_and_targets(
    table: np.ndarray, feature_cols: list[int], target_cols: list[int], single: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a table of numbers into ``X`` and ``y``, as contiguous copies.

    Args:
        table: The data, ``(n, width)``.
        feature_cols: The input columns, in the order of ``X``.
        target_cols: The target columns, in the order of ``y``.
        single: True for a 1-D ``y`` (one target column).

    Returns:
        ``X`` of shape ``(n, p)`` and ``y`` of shape ``(n,)`` or ``(n, d)``.

    Example:
        >>> X, y = inputs_and_targets(np.arange(6.0).reshape(2, 3), [0, 2], [1], True)
        >>> X.tolist(), y.tolist()
        ([[0.0, 2.0], [3.0, 5.0]], [1.0, 4.0])
    """
    X = np.ascontiguousarray(table[:, feature_cols])
    y = table[:, target_cols[0]].copy() if single else np.ascontiguousarray(table[:, target_cols])
    return X, y


def take_inputs_and_targets(
    table: np.ndarray, feature_cols: list[int], target_cols: list[int], single: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a table into ``X`` and ``y`` as :func:`inputs_and_targets` does, ``X`` in the table's own memory.

    The table is used up: ``X``'s rows are moved to the front of its buffer, a block of rows
    at a time, and the buffer is shrunk to them, so that reading a file needs the table's
    memory once, not twice.  A table that does not own its memory is copied as by
    :func:`inputs_and_targets`.

    Args:
        table: The data, ``(n, width)``; not to be used afterwards.
        feature_cols: The input columns, in the order of ``X``.
        target_cols: The target columns, in the order of ``y``.
        single: True for a 1-D ``y`` (one target column).

    Returns:
        ``X`` of shape ``(n, p)`` (C order) and ``y`` of shape ``(n,)`` or ``(n, d)``.

    Example:
        >>> X, y = take_inputs_and_targets(np.arange(6.0).reshape(2, 3), [0, 2], [1], True)
        >>> X.tolist(), y.tolist()
        ([[0.0, 2.0], [3.0, 5.0]], [1.0, 4.0])
    """
    if not (table.flags.owndata and table.flags.c_contiguous and table.ndim == 2):
        return inputs_and_targets(table, feature_cols, target_cols, single)
    n, width = table.shape
    p = len(feature_cols)
    y = table[:, target_cols[0]].copy() if single else np.ascontiguousarray(table[:, target_cols])
    flat = table.reshape(-1)
    rows = max(1, 2**16 // width)
    for a in range(0, n, rows):
        b = min(n, a + rows)
        # Row i of X goes to [i p, (i + 1) p), which ends before row i + 1 of the table starts
        # (p < width): the block is copied out first, and no later row is overwritten.
        flat[a * p:b * p] = table[a:b, feature_cols].ravel()
    del flat
    table.resize(n * p, refcheck=False)  # no view of the table is left; the tail is given back
    return table.reshape(n, p), y
