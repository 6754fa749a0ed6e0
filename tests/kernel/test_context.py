"""The kernel's template context: names, shapes and literals printed in Python; the regeneration command."""

from __future__ import annotations

import shlex

from symbp.kernel.context import BLOCK_ROWS_MAX, BLOCK_ROWS_MIN, block_rows, command_for, layout, spec_hash
from symbp.spec.network import make_spec
from tests.helpers import derive


def test_layout_of_the_reference_case() -> None:
    shape = layout(derive(hidden=3))
    assert shape.parameters == ("W1", "b1", "W2", "b2")
    assert shape.intermediates == ("a", "h", "z", "f")
    assert shape.shapes == (("W1", "(D, M)"), ("b1", "(D,)"), ("W2", "(M, p)"), ("b2", "(M,)"))
    assert shape.size_constants == () and shape.fan_in == {"W1": "M", "W2": "p"}


def test_layout_of_a_deeper_network_names_each_size() -> None:
    shape = layout(derive(hidden=(16, 8)))
    assert shape.size_constants == (("M2", 8), ("M3", 16))
    assert shape.shapes[2:4] == (("W2", "(M2, M3)"), ("b2", "(M2,)"))
    assert shape.intermediates == ("a3", "h3", "a2", "h2", "z", "f")


def test_block_rows_keep_the_widest_array_of_a_block_near_a_megabyte() -> None:
    assert block_rows(make_spec(hidden=3)) == BLOCK_ROWS_MAX
    assert block_rows(make_spec(hidden=1000)) == BLOCK_ROWS_MIN
    assert block_rows(make_spec(hidden=64)) == 2048


def test_command_regenerates_the_same_spec() -> None:
    spec = make_spec(hidden=(3, 2), sigma="relu,x/(1+exp(-x))", outputs=2, l2=0.5)
    command = command_for(spec, name="mine")
    assert command == "symbp emit --hidden 3,2 --sigma 'relu,x/(1+exp(-x))' --g identity --name mine --outputs 2 --l2 0.5"
    assert shlex.split(command)[:2] == ["symbp", "emit"]


def test_spec_hash_tells_specs_apart() -> None:
    assert spec_hash(make_spec(hidden=3)) == spec_hash(make_spec(hidden="3"))
    assert spec_hash(make_spec(hidden=3)) != spec_hash(make_spec(hidden=3, sigma="x/(1+exp(-x))"))
