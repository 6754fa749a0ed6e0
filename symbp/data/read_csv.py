"""Reading a CSV file (a header row of unique names, then rows of numbers) into a :class:`Dataset`.

Messages name the 1-based line of the file and the column, by number and name.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbp.data.columns import check_header, check_not_constant, csv_feature_columns, csv_target_names, inputs_and_targets
from symbp.data.dataset import Dataset
from symbp.data.labels import one_hot
from symbp.data.messages import data_error, quote
from symbp.errors import InternalError

__all__ = ["MalformedCsv", "TableProblemKind", "TableProblem", "load_csv", "malformed_message", "parse_csv", "parse_csv_labels", "problem_message",
           "split_rows", "table_of"]


def load_csv(file: Path, source: str, target: str | Sequence[str] | None, check_targets: bool = True,
             labels: bool | Sequence[str] = False) -> Dataset:
    """Read a CSV file, UTF-8 with or without a byte-order mark.

    Args:
        file: The file.
        source: Its name as the user gave it, for messages.
        target: The target column's name, or a sequence of names.
        check_targets: refuse a constant target (training data); evaluation data may have one.
        labels: the one target column holds class labels, one-hot encoded (:mod:`symbp.data.labels`);
            a sequence: with these classes (those a network was trained with).

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
            if labels is not False:
                return parse_csv_labels(stream, source, target, None if labels is True else tuple(labels))
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


def parse_csv_labels(stream: Iterable[str], source: str, target: str | Sequence[str] | None, classes: tuple[str, ...] | None = None) -> Dataset:
    """Parse a CSV text stream whose one target column holds class labels: y one-hot, the classes kept.

    Example:
        >>> data = parse_csv_labels(["a,kind", "1,dog", "3,cat", "2,dog"], "d.csv", "kind")
        >>> data.classes, data.y[0]
        (('cat', 'dog'), array([0., 1.]))
    """
    header, header_line, rows, lines = _read_rows(stream, source)
    names = check_header(header, header_line, source)
    target_names, single = csv_target_names(target, names, header_line, source)
    if not single:
        raise data_error(f"{source}: class labels are read from one target column, not {len(target_names)}; name one, or give one-hot columns")
    feature_cols = csv_feature_columns(names, target_names, header_line, source)
    if not rows:
        raise data_error(f"{source}: only a header on line {header_line} and no data rows; expected at least one row below it")
    column = names.index(target_names[0])
    short = next((r for r, row in enumerate(rows) if len(row) != len(names)), None)
    if short is not None:
        _numbers(rows[short:short + 1], lines[short:short + 1], names, source)  # its message names the row's fields
    inputs = [[row[j] for j in feature_cols] for row in rows]
    X = _numbers(inputs, lines, [names[j] for j in feature_cols], source)
    found, Y = one_hot([row[column] for row in rows], lines, source, classes)
    return Dataset(X=X, y=Y, feature_names=tuple(names[j] for j in feature_cols), target_names=tuple(target_names), source=source, classes=found)


def parse_csv_inputs(stream: Iterable[str], source: str, leave_out: str | Sequence[str] | None = None) -> Dataset:
    """Parse a CSV text stream whose every column is an input (data to predict for); the dataset's y has no columns.

    ``leave_out`` names target columns that are not read at all (they may hold class labels).

    Example:
        >>> parse_csv_inputs(["a,b", "1,2", "3,5"], "d.csv").X
        array([[1., 2.],
               [3., 5.]])
    """
    header, header_line, rows, lines = _read_rows(stream, source)
    names = check_header(header, header_line, source)
    if not rows:
        raise data_error(f"{source}: only a header on line {header_line} and no data rows; expected at least one row of numbers below it")
    if leave_out is not None:
        target_names, _ = csv_target_names(leave_out, names, header_line, source)
        kept = csv_feature_columns(names, target_names, header_line, source)
        short = next((r for r, row in enumerate(rows) if len(row) != len(names)), None)
        if short is not None:
            _numbers(rows[short:short + 1], lines[short:short + 1], names, source)  # its message names the row's fields
        rows, names = [[row[j] for j in kept] for row in rows], [names[j] for j in kept]
    X = _numbers(rows, lines, names, source)
    return Dataset(X=X, y=np.zeros((X.shape[0], 0)), feature_names=tuple(names), target_names=(), source=source)


def _read_rows(stream: Iterable[str], source: str) -> tuple[list[str], int, list[list[str]], list[int]]:
    """Split the stream into header, header line, data rows and their 1-based start lines."""
    try:
        rows, lines = split_rows(stream)
    except MalformedCsv as err:
        raise data_error(malformed_message(source, err.line, err.reason)) from err
    if not rows:
        raise data_error(f"{source}: the file holds only blank lines; expected a header row and rows of numbers")
    return rows[0], lines[0], rows[1:], lines[1:]


def _numbers(rows: list[list[str]], lines: list[int], names: list[str], source: str) -> np.ndarray:
    """The data rows as a float64 table: one field per column, every cell a finite number."""
    table = table_of(rows, len(names))
    if isinstance(table, TableProblem):
        raise data_error(problem_message(table, source, lines[table.row], names))
    return table


# --- shared with the cluster's reader, which reads blocks of the file on the workers -----------


class MalformedCsv(ValueError):
    """The csv module could not split a line (an unterminated quote, say)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def split_rows(lines: Iterable[str]) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows of CSV text and the 1-based line each starts on (counted in ``lines``).

    Raises:
        MalformedCsv: the csv module cannot split a line.

    Example:
        >>> split_rows(["a,y", "", "1,2"])
        ([['a', 'y'], ['1', '2']], [1, 3])
    """
    reader = csv.reader(lines)
    rows: list[list[str]] = []
    starts: list[int] = []
    previous = 0
    try:
        for row in reader:
            start = previous + 1
            previous = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line, e.g. a trailing one
            rows.append(row)
            starts.append(start)
    except csv.Error as err:
        raise MalformedCsv(reader.line_num, str(err)) from err
    return rows, starts


def malformed_message(source: str, line: int, reason: str) -> str:
    """The message for a line the csv module cannot split."""
    return f"{source} line {line}: malformed CSV ({reason}); expected comma-separated fields"


class TableProblemKind(enum.Enum):
    """What is wrong with a table of CSV cells, in the order the checks are made (the first kind found is reported)."""

    FIELDS = 1
    NOT_A_NUMBER = 2
    NOT_FINITE = 3


@dataclass(frozen=True)
class TableProblem:
    """The first problem of a table of CSV cells: its kind, row (index in the rows given) and column."""

    kind: TableProblemKind
    row: int
    column: int = 0
    cell: str = ""
    found: int = 0  # the number of fields, for FIELDS


#: What a number in a CSV cell may be: ASCII digits, a sign, a point, an exponent (or nan and inf, refused as not finite).
#: Python's float() also reads "1_000", other scripts' digits and other spaces; one grammar for every reader of symbp.
_NOT_IN_A_NUMBER = re.compile(r"[^0-9eE+\-. \tnaifty NAIFTY]")


def table_of(rows: list[list[str]], width: int) -> np.ndarray | TableProblem:
    """CSV cells as a float64 table, or its first problem: a row of another width, then a cell that is no number, then one not finite.

    Example:
        >>> table_of([["1", " 2.5e1"]], 2)
        array([[ 1., 25.]])
        >>> table_of([["1", "1_000"]], 2).kind
        <TableProblemKind.NOT_A_NUMBER: 2>
    """
    bad = next((i for i, row in enumerate(rows) if len(row) != width), None)
    if bad is not None:
        return TableProblem(TableProblemKind.FIELDS, bad, found=len(rows[bad]))
    try:
        if _NOT_IN_A_NUMBER.search("".join("".join(row) for row in rows)):
            raise ValueError("a character that is in no number")
        table = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except ValueError:
        i, j = _first_bad_cell(rows)
        return TableProblem(TableProblemKind.NOT_A_NUMBER, i, j, rows[i][j])
    finite = np.isfinite(table)
    if not finite.all():
        i, j = (int(k) for k in np.argwhere(~finite)[0])
        return TableProblem(TableProblemKind.NOT_FINITE, i, j, rows[i][j])
    return table


def problem_message(problem: TableProblem, source: str, line: int, names: list[str]) -> str:
    """The one-line message for a problem of the table, found at ``line`` of the file.

    Example:
        >>> problem_message(TableProblem(TableProblemKind.NOT_FINITE, 0, 1, "inf"), "d.csv", 3, ["a", "y"])
        "d.csv line 3, column 2 'y': cell 'inf' is not a finite number; expected a finite number (remove or fill in NaN and infinite values)"
    """
    if problem.kind is TableProblemKind.FIELDS:
        return (
            f"{source} line {line}: found {problem.found} fields, expected {len(names)} "
            f"(one per header column); check for missing or extra commas"
        )
    j = problem.column
    if problem.kind is TableProblemKind.NOT_A_NUMBER:
        what = "empty cell" if not problem.cell.strip() else f"non-numeric cell {quote(problem.cell)}"
        return f"{source} line {line}, column {j + 1} {quote(names[j])}: {what}; expected a number (missing values are not supported)"
    return (
        f"{source} line {line}, column {j + 1} {quote(names[j])}: cell {quote(problem.cell.strip())} "
        "is not a finite number; expected a finite number (remove or fill in NaN and infinite values)"
    )


def _first_bad_cell(rows: list[list[str]]) -> tuple[int, int]:
    """Row and column index of the first cell that is not a number of symbp's grammar."""
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            if _NOT_IN_A_NUMBER.search(cell):
                return i, j
            try:
                np.array(cell, dtype=np.float64)
            except ValueError:
                return i, j
    raise InternalError("a CSV table failed to convert to floats but every cell converts on its own")
