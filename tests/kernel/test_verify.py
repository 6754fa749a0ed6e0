"""Tests for symbp/kernel/verify.py: a kernel is what this symbp emits for its recorded spec, or it is refused."""

from __future__ import annotations

import pytest

from symbp.errors import KernelError
from symbp.kernel.emit import render_kernel
from symbp.kernel.verify import check_emitted, recorded_spec
from tests.helpers import SLOW, derive


def test_the_recorded_spec_and_name_are_read_without_running_anything():
    text = (
        "# Regenerate with: symbp emit --hidden 3,2 --sigma relu,tanh --g identity --name mine --inputs 4\n"
        "SPEC = {'hidden': [3, 2], 'sigma': ['relu', 'tanh'], 'g': 'identity', 'inputs': 4, 'outputs': 1, 'loss': 'quadratic'}\n"
    )
    spec, name = recorded_spec(text, "k.py")
    assert spec == {"hidden": [3, 2], "sigma": ["relu", "tanh"], "g": "identity", "inputs": 4, "outputs": 1, "loss": "quadratic"}
    assert name == "mine"
    assert recorded_spec(text.replace(" --name mine", ""), "k.py")[1] is None


@SLOW  # the quick loop has tests/redteam's tampered kernel
def test_an_emitted_text_passes_and_a_changed_one_is_refused():
    text = render_kernel(derive(hidden=2, sigma="tanh"))
    check_emitted(text, "k.py")
    with pytest.raises(KernelError, match="is not what this symbp emits for the spec it records"):
        check_emitted(text.replace("numpy.tanh", "numpy.sin", 1), "k.py")
    with pytest.raises(KernelError, match="is not what this symbp emits"):  # another --name recorded than emitted with
        check_emitted(text.replace("--hidden 2", "--hidden 2 --name other"), "k.py")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [("SPEC = open('x')", "not a literal"), ("SPEC = [1]", "not a spec symbp writes"), ("SPEC = {'hidden': 0}", "cannot emit")],
)
def test_a_spec_that_is_no_spec_is_refused(line, fragment):
    text = render_kernel(derive(hidden=2, sigma="tanh"))
    original = next(each for each in text.splitlines() if each.startswith("SPEC = "))
    with pytest.raises(KernelError, match=fragment):
        check_emitted(text.replace(original, line), "k.py")
