"""Reading a CSV file (a header row of unique names, then rows of numbers) into a :class:`Dataset`.

Messages name the 1-based line of the file and the column, by number and name.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from symbp.data.columns import check_header, check_not_constant, csv_feature_columns, csv_target_names, inputs_and_targets
from symbp.data.dataset import Dataset
from symbp.data.messages import data_error, quote
from symbp.errors import InternalError

__all__ = ["load_csv", "parse_csv"]


def load_csv(file: Path, source: str, target: str | Sequence[str] | None, check_targets: bool = True) -> Dataset:
    """Read a CSV file, UTF-8 with or without a byte-order mark.

    Args:
        file: The file.
        source: Its name as the user gave it, for messages.
        target: The target column's name, or a sequence of names.
        check_targets: refuse a constant target (training data); evaluation data may have one.

    Returns:
        The dataset.

    Raises:
        DataError: The file is not UTF-8, or what :func:`parse_csv` raises.

    Example:
        >>> load_csv(Path("runs.csv"), "runs.csv", "y").feature_names   # doctest: +SKIP
        ('a', 'b')
    """
    try:
        with open(file, encoding="utf-8-sig", newline="") as stream:
            return parse_csv(stream, source, target, check_targets)
    except UnicodeDecodeError as err:
        raise data_error(f"{source}: is not UTF-8 text ({err.reason}); save the CSV as UTF-8") from err


def parse_csv(stream: Iterable[str], source: str, target: str | Sequence[str] | None, check_targets: bool = True) -> Dataset:
    """Parse an open CSV text stream (opened with ``newline=""``).

    Args:
        stream: The lines of the file.
        source: The file name, for messages.
        target: The target column's name, or a sequence of names.
        check_targets: refuse a constant target (training data); evaluation data may have one.

    Returns:
        The dataset: every column that is not a target is an input.

    Raises:
        DataError: The header or target is unusable, there are no data rows,
            a row has another number of fields, a cell is not a finite number,
            or a target is constant.

    Example:
        >>> parse_csv(["a,y", "1,2", "3,5"], "d.csv", "y").y
        array([2., 5.])
    """
    header, header_line, rows, lines = _read_rows(stream, source)
    names = check_header(header, header_line, source)
    target_names, single = csv_target_names(target, names, header_line, source)
    target_cols = [names.index(t) for t in target_names]
    feature_cols = csv_feature_columns(names, target_names, header_line, source)
    if not rows:
        raise data_error(
            f"{source}: only a header on line {header_line} and no data rows; "
            "expected at least one row of numbers below it"
        )
    table = _numbers(rows, lines, names, source)
    for name, col in zip(target_names, target_cols if check_targets else []):
        check_not_constant(table[:, col], f"{source}, target column {quote(name)}")
    X, y = inputs_and_targets(table, feature_cols, target_cols, single)
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(names[j] for j in feature_cols),
        target_names=tuple(target_names),
        source=source,
    )


def parse_csv_inputs(stream: Iterable[str], source: str) -> Dataset:
    """Parse a CSV text stream whose every column is an input (data to predict for); the dataset's y has no columns.

    Example:
        >>> parse_csv_inputs(["a,b", "1,2", "3,5"], "d.csv").X
        array([[1., 2.],
               [3., 5.]])
    """
    header, header_line, rows, lines = _read_rows(stream, source)
    names = check_header(header, header_line, source)
    if not rows:
        raise data_error(f"{source}: only a header on line {header_line} and no data rows; expected at least one row of numbers below it")
    X = _numbers(rows, lines, names, source)
    return Dataset(X=X, y=np.zeros((X.shape[0], 0)), feature_names=tuple(names), target_names=(), source=source)


def _read_rows(stream: Iterable[str], source: str) -> tuple[list[str], int, list[list[str]], list[int]]:
    """Split the stream into header, header line, data rows and their 1-based start lines."""
    reader = csv.reader(stream)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    previous = 0
    try:
        for row in reader:
            start = previous + 1
            previous = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line, e.g. a trailing one
            if header is None:
                header, header_line = row, start
            else:
                rows.append(row)
                lines.append(start)
    except csv.Error as err:
        raise data_error(f"{source} line {reader.line_num}: malformed CSV ({err}); expected comma-separated fields") from err
    if header is None:
        raise data_error(f"{source}: the file holds only blank lines; expected a header row and rows of numbers")
    return header, header_line, rows, lines


def _numbers(rows: list[list[str]], lines: list[int], names: list[str], source: str) -> np.ndarray:
    """The data rows as a float64 table: one field per column, every cell a finite number."""
    width = len(names)
    bad = next((i for i, row in enumerate(rows) if len(row) != width), None)
    if bad is not None:
        raise data_error(
            f"{source} line {lines[bad]}: found {len(rows[bad])} fields, expected {width} "
            f"(one per header column); check for missing or extra commas"
        )
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as err:
        i, j = _first_bad_cell(rows)
        cell = rows[i][j]
        what = "empty cell" if not cell.strip() else f"non-numeric cell {quote(cell)}"
        raise data_error(
            f"{source} line {lines[i]}, column {j + 1} {quote(names[j])}: {what}; "
            "expected a number (missing values are not supported)"
        ) from err
    finite = np.isfinite(table)
    if not finite.all():
        i, j = (int(k) for k in np.argwhere(~finite)[0])
        raise data_error(
            f"{source} line {lines[i]}, column {j + 1} {quote(names[j])}: cell {quote(rows[i][j].strip())} "
            "is not a finite number; expected a finite number (remove or fill in NaN and infinite values)"
        )
    return table


def _first_bad_cell(rows: list[list[str]]) -> tuple[int, int]:
    """Row and column index of the first cell numpy cannot turn into a float."""
    for i, row in enumerate(rows):
        try:
            np.array(row, dtype=np.float64)
        except ValueError:
            for j, cell in enumerate(row):
                try:
                    np.array(cell, dtype=np.float64)
                except ValueError:
                    return i, j
    raise InternalError("a CSV table failed to convert to floats but every cell converts on its own")
