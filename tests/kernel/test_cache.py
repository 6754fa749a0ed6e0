"""Tests for symbp/kernel/cache.py: the verified-kernel cache is used only where no one else can write."""

from __future__ import annotations

import os

import pytest

from symbp.kernel import cache


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_an_entry_remembered_is_found_and_others_are_not(home):
    assert not cache.is_verified("a" * 64)
    cache.remember("a" * 64, note="k.py")
    assert cache.is_verified("a" * 64) and not cache.is_verified("b" * 64)
    folder = cache.cache_folder()
    assert folder.parent.parent == home / "symbp" and folder.name == cache.generator_fingerprint()[:32]
    assert (folder.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("loose", ["root", "folder"])
def test_a_cache_others_can_write_to_is_not_used(home, loose):
    cache.remember("a" * 64)
    folder = cache.cache_folder()
    (home / "symbp" if loose == "root" else folder).chmod(0o777)
    assert cache.cache_folder() is None and not cache.is_verified("a" * 64)
    cache.remember("c" * 64)  # nothing is written where it would not be believed
    assert not (folder / ("c" * 64)).exists()


def test_a_relative_cache_home_is_not_used(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert cache.cache_folder(create=True) is None and not os.path.exists("relative")


def test_the_fingerprint_covers_symbp_and_sympy():
    assert len(cache.generator_fingerprint()) == 64 and cache.generator_fingerprint() == cache.generator_fingerprint()
