"""Tests for symbp/training/heap.py: the heap kept for a kernel's temporaries, counted, and restored afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from symbp.training import heap
from tests.helpers import ROOT


@pytest.fixture
def calls(monkeypatch):
    """The thresholds set, instead of setting them in this process."""
    seen = []
    monkeypatch.setattr(heap, "_mallopt", lambda mmap, trim: seen.append((mmap, trim)) or True)
    monkeypatch.setattr(heap, "_holders", 0)
    return seen


def test_keeping_is_counted_and_the_last_restore_sets_the_thresholds_back(calls, monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as Dask's nanny starts its workers
    assert heap.keep_heap() and heap.keep_heap()
    heap.restore_heap()
    assert calls == [(heap.HEAP_ARRAYS, heap.HEAP_KEPT_FREE)]  # a kernel still runs
    heap.restore_heap()
    heap.restore_heap()  # one too many: nothing happens
    assert calls == [(heap.HEAP_ARRAYS, heap.HEAP_KEPT_FREE), (128 * 1024, 65536)]


def test_without_the_environment_the_thresholds_return_where_glibc_adjusts_them(calls, monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with heap.kept_heap() as kept:
        assert kept
    assert calls[-1] == (heap.HEAP_ARRAYS, 2 * heap.HEAP_ARRAYS)


def test_a_c_library_without_the_settings_changes_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_mallopt", lambda mmap, trim: False)
    monkeypatch.setattr(heap, "_holders", 0)
    with heap.kept_heap() as kept:
        assert not kept
    assert heap._holders == 0


# A fresh process with Dask's worker setting: calls that, like a kernel's, take and free a few arrays of
# 3 × 8192 floats (192 KiB) per block of rows, 8 blocks a call; page faults counted per call.
_FAULTS = """
import json, resource
import numpy as np
from symbp.training.heap import kept_heap

def call():
    for block in range(8):
        a = np.full((3, 8192), 0.5)
        h = np.tanh(a)
        delta = np.square(h)
        np.subtract(1.0, delta, out=delta)
        float(np.vdot(delta, h))

def faults_per_call():
    call()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4

plain = faults_per_call()
with kept_heap() as kept:
    held = faults_per_call()
print(json.dumps({"plain": plain, "kept": held, "applied": kept}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the thresholds are glibc's")
def test_a_kept_heap_ends_the_page_faults_of_every_call():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, env=env, check=True, timeout=120)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if not got["applied"]:
        pytest.skip("not glibc: the thresholds cannot be set")
    # Each 192 KiB array (48 pages) is a mapping of its own unless the heap is kept.
    assert got["plain"] > 500, got
    assert got["kept"] < 20, got
