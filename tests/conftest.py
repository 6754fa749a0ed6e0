"""Shared test settings: the golden-file switch, the verified-kernel cache of the test runs (helpers shared by
the tests are in tests/helpers.py)."""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # symbp keeps the kernels it verified in $XDG_CACHE_HOME/symbp: the tests (and the processes they start)
    # use a folder of pytest's cache, kept from one run to the next, never the user's own.
    cache = getattr(config, "cache", None)
    folder = cache.mkdir("symbp-xdg-cache") if cache is not None else None
    if folder is not None:
        os.environ["XDG_CACHE_HOME"] = str(folder)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the committed kernels in generated/ from the current generator instead of failing on a difference",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))

