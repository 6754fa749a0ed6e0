"""The names the command line offers without SymPy: σ, g and the views."""

from __future__ import annotations

import pytest

from symbp.errors import SpecError
from symbp.spec.names import ACTIVATION_NAMES, OUTPUT_NAMES, VIEWS, check_view


def test_the_names() -> None:
    assert "tanh" in ACTIVATION_NAMES and "exp" in OUTPUT_NAMES and VIEWS == ("component", "matrix")


def test_an_unknown_view_names_the_views() -> None:
    assert check_view("matrix") == "matrix"
    with pytest.raises(SpecError, match=r"^unknown view 'tensor': choose component or matrix$"):
        check_view("tensor")
