"""Reading a CSV file (a header row of unique names, then rows of numbers) into a :class:`Dataset`.

Messages name the 1-based line of the file and the column, by number and name.  A file of
numbers is parsed by :func:`symbp.data.csv_table.read_table`, the parser of the Dask workers too;
text already in memory (the shipped data sets) and files with a column of class labels by the
csv module, with the same grammar of numbers and the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from symbp.data.columns import check_header, check_not_constant, csv_feature_columns, csv_target_names, inputs_and_targets, take_inputs_and_targets
from symbp.data.csv_table import (
    CsvHeader,
    MalformedCsv,
    TableProblem,
    TableProblemKind,
    malformed_message,
    problem_message,
    read_header,
    read_table,
    split_rows,
    table_of,
)
from symbp.data.dataset import Dataset
from symbp.data.labels import one_hot
from symbp.data.messages import data_error, quote

__all__ = ["MalformedCsv", "TableProblemKind", "TableProblem", "load_csv", "load_csv_inputs", "malformed_message", "parse_csv", "parse_csv_inputs",
           "parse_csv_labels", "problem_message", "split_rows", "table_of"]


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
    if labels is False:
        return _load_numbers(file, source, target, check_targets)
    try:
        with open(file, encoding="utf-8-sig", newline="") as stream:
            return parse_csv_labels(stream, source, target, None if labels is True else tuple(labels))
    except UnicodeDecodeError as err:
        raise data_error(f"{source}: is not UTF-8 text ({err.reason}); save the CSV as UTF-8") from err


def load_csv_inputs(file: Path, source: str, leave_out: str | Sequence[str] | None = None) -> Dataset:
    """Read a CSV file whose columns are all inputs (data to predict for), but those ``leave_out`` names.

    Returns:
        The dataset; its y has no columns.

    Raises:
        DataError: as :func:`load_csv`, but no target is needed.

    Example:
        >>> load_csv_inputs(Path("new.csv"), "new.csv").X.shape   # doctest: +SKIP
        (10, 2)
    """
    if leave_out is None:
        header, names = _header(file, source)
        X = _table(file, source, header, names)
        return Dataset(X=X, y=np.zeros((X.shape[0], 0)), feature_names=tuple(names), target_names=(), source=source)
    try:
        with open(file, encoding="utf-8-sig", newline="") as stream:
            return parse_csv_inputs(stream, source, leave_out)  # target columns are not read: they may hold labels
    except UnicodeDecodeError as err:
        raise data_error(f"{source}: is not UTF-8 text ({err.reason}); save the CSV as UTF-8") from err


def _load_numbers(file: Path, source: str, target: str | Sequence[str] | None, check_targets: bool) -> Dataset:
    """A file of numbers through the parser the Dask workers use: the checks and messages of :func:`parse_csv`."""
    header, names = _header(file, source)
    target_names, single = csv_target_names(target, names, header.line, source)
    target_cols = [names.index(t) for t in target_names]
    feature_cols = csv_feature_columns(names, target_names, header.line, source)
    table = _table(file, source, header, names)
    for name, col in zip(target_names, target_cols if check_targets else []):
        check_not_constant(table[:, col], f"{source}, target column {quote(name)}")
    X, y = take_inputs_and_targets(table, feature_cols, target_cols, single)
    return Dataset(X=X, y=y, feature_names=tuple(names[j] for j in feature_cols), target_names=tuple(target_names), source=source)


def _header(file: Path, source: str) -> tuple[CsvHeader, list[str]]:
    """The header and its checked column names."""
    header = read_header(file, source)
    return header, check_header(header.cells, header.line, source)


def _table(file: Path, source: str, header: CsvHeader, names: list[str]) -> np.ndarray:
    """The rows below the header as a table, or the DataError for their first problem or for no rows."""
    table = read_table(file, header.data_start, file.stat().st_size, len(names))
    if isinstance(table, TableProblem):
        raise data_error(problem_message(table, source, header.line + table.line, names))
    if not len(table):
        raise data_error(
            f"{source}: only a header on line {header.line} and no data rows; expected at least one row of numbers below it"
        )
    return table


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
