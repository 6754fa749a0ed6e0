"""Tests for symbp/data/messages.py: one-line errors, quoting, what each file kind should hold."""

from __future__ import annotations

from symbp.data.messages import MAX_QUOTE, constant_target_message, data_error, expected_contents, quote, quote_list
from symbp.data.read import SUFFIXES
from symbp.errors import DataError, UserError


def test_data_error_is_a_one_line_user_error():
    error = data_error("d.csv line 3: cell 'a\nb\r'")
    assert isinstance(error, DataError) and isinstance(error, UserError)
    assert str(error) == "d.csv line 3: cell 'a\\nb\\r'"


def test_quote_cuts_long_text_and_escapes_line_breaks():
    assert quote("bmi") == "'bmi'"
    assert quote("a\nb") == "'a\\nb'"
    assert quote("x" * MAX_QUOTE) == repr("x" * MAX_QUOTE)
    assert quote("x" * (MAX_QUOTE + 1)) == repr("x" * (MAX_QUOTE - 3) + "...")


def test_quote_list():
    assert quote_list(["a", "y"]) == "'a', 'y'"
    assert quote_list([]) == ""


def test_every_suffix_has_its_expected_contents():
    assert [expected_contents(suffix) for suffix in SUFFIXES] == [
        "a header row of column names and rows of numbers",
        "a 2-D numeric array saved with numpy.save",
        "arrays 'X' and 'y' saved with numpy.savez",
    ]


def test_constant_target_message():
    assert constant_target_message("d.csv: target column 'y'", 7.0) == (
        "d.csv: target column 'y' is constant (every row is 7), so a network cannot learn anything from it; "
        "choose a target column whose values vary"
    )
