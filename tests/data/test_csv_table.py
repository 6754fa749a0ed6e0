"""Tests for symbp/data/csv_table.py: the fast parser reads what the csv module and the grammar read, range by range.

The reference is the careful reader on its own (:func:`split_rows` then :func:`table_of`): every
cell and every file must get from :func:`read_table` the numbers or the first problem it gets.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbp.data import csv_table, load
from symbp.data.csv_table import MalformedCsv, TableProblem, TableProblemKind, read_header, read_table, split_rows, table_of
from symbp.errors import DataError
from tests.helpers import slow_after


def reference(text: str, width: int) -> np.ndarray | TableProblem:
    """The careful reader's answer for a whole text, lines (ended by \\n) counted from 1."""
    try:
        rows, lines = split_rows(line.decode() for line in io.BytesIO(text.encode()))
    except MalformedCsv as err:
        return TableProblem(TableProblemKind.MALFORMED, 0, cell=err.reason, line=err.line)
    if not rows:
        return np.zeros((0, width))
    table = table_of(rows, width)
    if isinstance(table, TableProblem):
        return TableProblem(table.kind, table.row, table.column, table.cell, table.found, lines[table.row])
    return table


def assert_same(found, expected) -> None:
    if isinstance(expected, TableProblem):
        assert found == expected
    else:
        assert isinstance(found, np.ndarray), found
        np.testing.assert_array_equal(found, expected)
        assert found.shape == expected.shape


def read_text(tmp_path, text: str, width: int, start: int = 0, stop: int | None = None):
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8"))
    return read_table(path, start, len(text.encode("utf-8")) if stop is None else stop, width)


# --- the grammar: cell by cell -----------------------------------------------------------------


ASCII = [chr(code) for code in range(1, 128) if chr(code) not in "\n\r,\""]
SAMPLES = ["1_000", "\u0663", "\uff11", "\u00a04", "\u20071", "1\u2028", "0x10", "1e5", " -2.5E-3 ", "+.5", "5.", "Infinity", "-inf", "nAn",
           "infinit", "1e", "--1", "1 2", "\t7\t", "\x0b1", "1\x0c", "\x1f1", "1\x00", "١٢", "١.٥"]


@pytest.mark.parametrize("cell", slow_after(SAMPLES + ASCII + [f"1{c}" for c in ASCII] + [f"{c}1" for c in ASCII], keep=len(SAMPLES) + len(ASCII)))
def test_a_cell_reads_as_the_grammar_reads_it(tmp_path, cell):
    text = f"1,2\n{cell},3\n4,5\n"
    assert_same(read_text(tmp_path, text, 2), reference(text, 2))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.eE+-naifty \t_", min_size=0, max_size=5), min_size=2, max_size=2))
def test_cells_of_the_grammars_characters_read_as_the_grammar_reads_them(tmp_path_factory, cells):
    text = "1,2\n" + ",".join(cells) + "\n"
    assert_same(read_text(tmp_path_factory.mktemp("cells"), text, 2), reference(text, 2))


# --- files and ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["1,2\n3,4", "1,2\n\n3,4\n\n\n", "\r\n1,2\r\n\r\n3,4\r\n", "1,2\n  \n3,4\n", "1,2\r3,4\n", '"1",2\n3,"4"\n', '1,2\n"3\n",4\n',
     "1,2\n3,4,5\n", "1,2\n3\n", "\n\n", "1,nan\n"],
    ids=["no last newline", "blank lines", "CRLF", "a line of spaces", "a lone CR", "quoted cells", "a quoted newline",
         "an extra field", "a missing field", "only blank lines", "nan"],
)
def test_a_file_reads_as_the_careful_reader_reads_it(tmp_path, text):
    assert_same(read_text(tmp_path, text, 2), reference(text, 2))


def test_a_file_not_in_utf8_is_named_so(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,2\n\xff,3\n")
    assert read_table(path, 0, 8, 2) == TableProblem(TableProblemKind.NOT_UTF8, 0, cell="invalid start byte")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(-999, 999), min_size=3, max_size=3), min_size=1, max_size=12),
    st.lists(st.sampled_from(["\n", "\r\n", "\n\n", "\n\r\n"]), min_size=12, max_size=12),
    st.lists(st.integers(0, 200), min_size=0, max_size=4),
)
def test_ranges_that_tile_the_file_read_every_row_once(tmp_path_factory, rows, ends, cuts):
    text = "".join(",".join(map(str, row)) + end for row, end in zip(rows, ends))
    path = tmp_path_factory.mktemp("ranges") / "d.csv"
    path.write_bytes(text.encode())
    bounds = [0, *sorted(min(cut, len(text)) for cut in cuts), len(text)]
    parts = [read_table(path, a, b, 3) for a, b in zip(bounds[:-1], bounds[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), np.array(rows, dtype=float))


def test_a_file_of_numbers_never_meets_the_careful_reader(tmp_path, monkeypatch):
    def refuse(*_):
        raise AssertionError("the careful reader ran")

    monkeypatch.setattr(csv_table, "_careful_table", refuse)
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{-i * 0.5:.3e},{i % 7}\r\n" for i in range(2000)) + "\n")
    data = load(path, target="y")
    assert data.X.shape == (2000, 2) and data.y[-1] == 1999 % 7
    # A value that is not finite is placed by the csv module reading the rows before it, not the whole range.
    text = "1,2\n\n3,4\r\n5,-inf\n6,nan\n"
    assert read_text(tmp_path, text, 2) == reference(text, 2) == TableProblem(TableProblemKind.NOT_FINITE, 2, 1, "-inf", line=4)
    with pytest.raises(AssertionError, match="careful"):
        read_text(tmp_path, "1,x\n", 2)  # a cell that is no number: found by the careful reader


def test_the_header_ends_where_the_data_start(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'\xef\xbb\xbf\n\n"a\nb",y\n1,2\n')
    header = read_header(path, "d.csv")
    assert (header.line, header.cells, header.data_start) == (4, ["a\nb", "y"], len(b'\xef\xbb\xbf\n\n"a\nb",y\n'))
    assert read_table(path, header.data_start, path.stat().st_size, 2).tolist() == [[1.0, 2.0]]


def test_a_lone_carriage_return_is_refused_naming_its_line(tmp_path):
    # Old Mac line ends: the lines are split at \n only, on every path, and the csv module refuses the \r.
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n1,2\n3,4\r5,6\n")
    with pytest.raises(DataError, match=r"d.csv line 3: malformed CSV \(new-line character seen in unquoted field"):
        load(path, target="y")


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(["1,2", "3", "1,2,3", "x,2", "nan,1", "", "4,5", "  ", '"6",7', "5\r,6"]), min_size=1, max_size=14), st.integers(1, 3))
def test_the_careful_reader_block_by_block_reports_what_it_reports_for_the_whole_range(tmp_path_factory, lines, block_rows):
    # Several problems in a range: the first of the highest rank, whichever block it falls in.
    text = "\n".join(["9,1e400" if line == "nan,1" else line for line in lines] + ["8,9"]) + "\n"
    saved, csv_table._BLOCK_ROWS = csv_table._BLOCK_ROWS, block_rows
    try:
        assert_same(read_text(tmp_path_factory.mktemp("blocks"), text, 2), reference(text, 2))
    finally:
        csv_table._BLOCK_ROWS = saved
