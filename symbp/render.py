"""Rendering: place printed strings into Jinja templates.

Shared by the LaTeX and the kernel stages (ARCHITECTURE.md).  The
environment is strict (an undefined name is an error), trims block lines and
keeps the final newline; templates do no math, they only place strings that
the printers produced.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from symbp.errors import InternalError

_PACKAGE_TEMPLATES = Path(__file__).parent / "_templates"  # where the wheel puts them
_SOURCE_TEMPLATES = Path(__file__).parent.parent / "templates"  # in a source checkout


def templates_dir() -> Path:
    """The folder holding symbp's templates, in an installed wheel or a source checkout."""
    for candidate in (_PACKAGE_TEMPLATES, _SOURCE_TEMPLATES):
        if candidate.is_dir():
            return candidate
    raise InternalError("symbp's templates are missing from the installation; reinstall symbp")


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template_name: str, **context: object) -> str:
    """Render ``template`` (a path under templates/, e.g. ``"latex/derivation.tex.jinja"``)."""
    try:
        return environment().get_template(template_name).render(**context)
    except jinja2.TemplateError as err:
        raise InternalError(f"template {template_name} failed: {err}") from err
