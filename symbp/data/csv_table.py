"""The one CSV parser of symbp: a file's header, and the rows that start in a byte range parsed into a float64 table.

:func:`symbp.data.load` reads a whole file as one range, the Dask workers
(:func:`symbp.cluster.worker.read_csv_rows`) read a range each, so that a file
gets the same numbers and the same first problem either way.

The grammar of a cell (what :func:`table_of` accepts): optional spaces or tabs, an optional
sign, ASCII digits with an optional point and exponent, optional spaces or tabs; ``nan``,
``inf`` and ``infinity`` in any case are read and refused as not finite.  Python's ``float()``
also reads ``1_000``, other scripts' digits (``٣``, ``１``) and other spaces (a no-break
space); symbp refuses those on every path.

Speed: :func:`read_table` first hands the lines to NumPy's C parser (``numpy.loadtxt``),
about four times faster than Python's csv module and without a Python string per cell (a
tenth of the memory; ``benchmarks/csv_read.py``), and only when that fails or finds a value
that is not finite reads the range again with the csv module (:func:`split_rows`,
:func:`table_of`), which finds the first problem and its line for the message.  The fast
path runs only on text made of the bytes of the grammar (see :func:`_plain`), where NumPy's
parser and :func:`table_of` accept the same cells (``tests/data/test_csv_table.py`` checks
every ASCII character against the careful reader).
"""

from __future__ import annotations

import csv
import enum
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from symbp.data.messages import data_error, quote
from symbp.errors import InternalError

__all__ = ["CsvHeader", "MalformedCsv", "TableProblem", "TableProblemKind", "malformed_message", "problem_message", "read_header",
           "read_table", "split_rows", "table_of"]

#: Bytes read at a time by the fast path (then up to the end of the line).
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's header: the 1-based line it ends on, its cells, and the byte where the data start."""

    line: int
    cells: list[str]
    data_start: int


def read_header(file: Path, source: str) -> CsvHeader:
    """The header: the first row that is not blank, after a byte-order mark.  Nothing else of the file is read.

    Args:
        file: The file.
        source: Its name as the user gave it, for messages.

    Returns:
        The header.

    Raises:
        DataError: the header is not UTF-8 or malformed, or the file holds only blank lines.

    Example:
        >>> read_header(Path("d.csv"), "d.csv")   # doctest: +SKIP
        CsvHeader(line=1, cells=['a', 'y'], data_start=4)
    """
    consumed = 0

    def lines(stream: BinaryIO) -> Iterator[str]:
        nonlocal consumed
        for number, raw in enumerate(stream):
            consumed += len(raw)
            yield raw.decode("utf-8-sig" if number == 0 else "utf-8")

    try:
        with file.open("rb") as stream:
            reader = csv.reader(lines(stream))
            for row in reader:
                if row and not (len(row) == 1 and not row[0].strip()):
                    return CsvHeader(reader.line_num, row, consumed)
    except UnicodeDecodeError as err:
        raise data_error(f"{source}: is not UTF-8 text ({err.reason}); save the CSV as UTF-8") from err
    except csv.Error as err:
        raise data_error(malformed_message(source, reader.line_num, str(err))) from err
    raise data_error(f"{source}: the file holds only blank lines; expected a header row and rows of numbers")


def read_table(path: str | Path, start: int, stop: int, width: int) -> np.ndarray | TableProblem:
    """The rows of a CSV file that start in bytes ``start:stop`` as a float64 table, or their first problem.

    A row belongs to the range its first byte is in, so ranges that tile the data read every row once.

    Args:
        path: The file.
        start, stop: The byte range; ``start`` is a line start or inside a line (then reading begins at the next).
        width: The number of columns of the header.

    Returns:
        The table (rows, width), C order and owning its memory; or the first problem, in the order
        :func:`table_of` checks, with ``line`` counted from 1 at the first line that starts in the range.

    Example:
        >>> read_table("d.csv", 4, 12, 2)   # doctest: +SKIP
        array([[1., 2.],
               [3., 5.]])
    """
    with open(path, "rb") as stream:
        _seek_line(stream, start)
        table = _fast_table(stream, stop, width)
        if table is not None:
            return table  # or its first value that is not finite
        _seek_line(stream, start)
        return _careful_table(stream, stop, width)


def _seek_line(stream: BinaryIO, start: int) -> None:
    """Move to the first line that starts at or after ``start``."""
    stream.seek(max(start - 1, 0))
    if start > 0:
        stream.readline()


def _fast_table(stream: BinaryIO, stop: int, width: int) -> np.ndarray | TableProblem | None:
    """The range by NumPy's C parser, its first value that is not finite, or None when it cannot tell (a byte
    outside the grammar, a refused cell or row).

    A first pass over the range's bytes checks them and counts its lines; NumPy's parser then reads
    that many lines straight from the file (skipping blank ones as the csv module does).  A range that
    ends where the file does is read to its end, and its lines are not counted (a tenth of the time).
    """
    begin = stream.tell()
    to_the_end = stop >= os.fstat(stream.fileno()).st_size
    survey = _survey(stream, stop, count=not to_the_end)
    if survey is None:
        return None
    lines, blank = survey
    if blank:
        return np.zeros((0, width))
    stream.seek(begin)
    try:
        table = np.loadtxt(stream if to_the_end else itertools.islice(stream, lines), dtype=np.float64, delimiter=",", comments=None, quotechar=None,
                           ndmin=2, encoding="ascii")
    except ValueError:
        return None
    if table.shape[1] != width:
        return None
    finite = np.isfinite(table)
    if finite.all():
        return table
    # Every row has its fields and every cell is a number: the first value that is not finite is the
    # range's first problem.  The csv module finds its line and text, reading only the rows before it.
    row, column = (int(k) for k in np.argwhere(~finite)[0])
    stream.seek(begin)
    cells, line = next(itertools.islice(_range_rows(_range_lines(stream, stop)), row, None))
    return TableProblem(TableProblemKind.NOT_FINITE, row, column, cells[column], line=line)


def _survey(stream: BinaryIO, stop: int, count: bool = True) -> tuple[int, bool] | None:
    """The range's lines (0 unless ``count``) and whether they are all blank, or None for a byte outside the grammar."""
    lines, blank = 0, True
    while stream.tell() < stop:
        chunk = stream.read(min(_CHUNK, stop - stream.tell()))
        if not chunk:
            break
        if not chunk.endswith(b"\n"):
            chunk += stream.readline()  # the line started in the range: it is read to its end
        if not _plain(chunk):
            return None
        if count:
            lines += chunk.count(b"\n") + (not chunk.endswith(b"\n"))
        # lstrip first: a chunk that starts with a cell is then not copied.
        blank = blank and not chunk.lstrip(b"\r\n").rstrip(b"\r\n")
    return lines, blank


#: ASCII control bytes other than tab and line ends that Python (and so NumPy's parser) strips from a number as spaces.
_SPACES_OUTSIDE_THE_GRAMMAR = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")


def _plain(chunk: bytes) -> bool:
    """Whether NumPy's parser reads the chunk's cells as :func:`table_of` does: ASCII without quotes or extra spaces.

    NumPy's parser strips Python's whitespace around a cell and then reads ASCII numbers only; the
    grammar's other characters it reads like ``float()``.  Quotes are left to the csv module.
    """
    return chunk.isascii() and b'"' not in chunk and not any(space in chunk for space in _SPACES_OUTSIDE_THE_GRAMMAR)


#: Rows the careful reader checks at a time: its memory is that of a block of strings, not of the file's.
_BLOCK_ROWS = 20_000

def _careful_table(stream: BinaryIO, stop: int, width: int) -> np.ndarray | TableProblem:
    """The range by the csv module and :func:`table_of`, a block of rows at a time: slower, and it finds the first problem and its line."""
    rows = _range_rows(_range_lines(stream, stop))
    blocks: list[np.ndarray] = []
    found: TableProblem | None = None
    done = 0
    try:
        while block := list(itertools.islice(rows, _BLOCK_ROWS)):
            cells = [row for row, _ in block]
            table = table_of(cells, width) if found is None or _RANK[found.kind] > _RANK[TableProblemKind.FIELDS] else None
            if isinstance(table, TableProblem) and (found is None or _RANK[table.kind] < _RANK[found.kind]):
                found = TableProblem(table.kind, done + table.row, table.column, table.cell, table.found, block[table.row][1])
            elif isinstance(table, np.ndarray) and found is None:
                blocks.append(table)
            done += len(block)
    except UnicodeDecodeError as err:
        return TableProblem(TableProblemKind.NOT_UTF8, 0, cell=err.reason)
    except MalformedCsv as err:
        for _ in _range_lines(stream, stop):
            pass  # text that is not UTF-8 further on is reported first, as when the whole range is decoded first
        return TableProblem(TableProblemKind.MALFORMED, 0, cell=err.reason, line=err.line)
    if found is not None:
        return found
    return np.concatenate(blocks) if blocks else np.zeros((0, width))


def _range_lines(stream: BinaryIO, stop: int) -> Iterator[str]:
    """The lines that start before ``stop``, decoded."""
    while stream.tell() < stop:
        line = stream.readline()
        if not line:
            return
        yield line.decode("utf-8")


def _range_rows(lines: Iterable[str]) -> Iterator[tuple[list[str], int]]:
    """The non-blank rows of the lines and the 1-based line each starts on (:func:`split_rows`, one row at a time)."""
    reader = csv.reader(lines)
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if row and not (len(row) == 1 and not row[0].strip()):
                yield row, start
    except csv.Error as err:
        raise MalformedCsv(reader.line_num, str(err)) from err


# --- the careful reader: the csv module and the grammar of numbers --------------------------------


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

    NOT_UTF8 = 0  # cell: the decoder's reason
    MALFORMED = 4  # a line the csv module cannot split (found before any cell is read); cell: its reason
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
    line: int = 0  # the 1-based line of the range read (:func:`read_table`) where the row starts


#: Which problem the careful reader reports when a range has several: as if it checked the whole range at
#: once, text that is not UTF-8 or a line the csv module cannot split first, then :func:`table_of`'s order.
_RANK = {TableProblemKind.NOT_UTF8: 0, TableProblemKind.MALFORMED: 0, TableProblemKind.FIELDS: 1,
         TableProblemKind.NOT_A_NUMBER: 2, TableProblemKind.NOT_FINITE: 3}


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
    if problem.kind is TableProblemKind.NOT_UTF8:
        return f"{source}: is not UTF-8 text ({problem.cell}); save the CSV as UTF-8"
    if problem.kind is TableProblemKind.MALFORMED:
        return malformed_message(source, line, problem.cell)
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
