"""Shared test settings: a fixed seed, the golden-file switch, and CI's strictness about real tools."""

from __future__ import annotations

import os

import pytest


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


def under_ci() -> bool:
    """True when running in CI (CI=true), where missing tools are failures, not skips."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
