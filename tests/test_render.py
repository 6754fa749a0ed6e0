"""Rendering: the strict Jinja environment places printed strings; a missing name is an error, not a blank."""

from __future__ import annotations

import jinja2
import pytest

from symbp.errors import InternalError
from symbp.render import environment, render, templates_dir


def test_the_templates_are_found() -> None:
    assert (templates_dir() / "numpy" / "kernel.py.jinja").is_file() and (templates_dir() / "latex" / "derivation.tex.jinja").is_file()


def test_the_environment_is_strict_and_keeps_the_final_newline() -> None:
    env = environment()
    assert env.undefined is jinja2.StrictUndefined and env.keep_trailing_newline and env.trim_blocks and env.lstrip_blocks
    assert env.from_string("{{ a }}\n").render(a="x") == "x\n"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_a_failing_template_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="template numpy/kernel.py.jinja failed"):
        render("numpy/kernel.py.jinja")  # no context: every name is undefined
