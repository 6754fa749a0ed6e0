"""The heap kept for a kernel's temporaries while it runs: no page faults for memory it frees and takes again.

A kernel works through the samples in blocks and needs a few arrays of M × BLOCK floats
per block (192 KiB each at M = 3).  glibc hands such arrays back to the system as soon as
they are freed (a fresh mapping each above its mmap threshold, or the top of the heap trimmed
beyond its trim threshold), so every block of every call faults the same pages in again:
6 000 faults per call on 250 000 rows at M = 3 in a fresh process, a fifth of the call's time.
Dask's nanny makes it worse: its workers start with ``MALLOC_TRIM_THRESHOLD_=65536``, which
also pins the mmap threshold at 128 KiB.  (The template's kernels write a block's arrays over the
samples into arrays that each thread keeps from call to call; what they still take and free per
block, the blocks' partial sums and the arrays of a new block size, stays on the kept heap.)

:func:`keep_heap` raises both thresholds while a kernel runs (``symbp.train``, a kernel
installed on a Dask worker); :func:`restore_heap` sets them back.  Only glibc has them; with
another C library (macOS, Windows, musl) both do nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["HEAP_ARRAYS", "HEAP_KEPT_FREE", "keep_heap", "kept_heap", "restore_heap"]

#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: While kept, arrays up to this size come from the heap instead of a mapping of their own: glibc's largest
#: mmap threshold on 64-bit systems, a kernel's per-block arrays up to M ≈ 500 at BLOCK = 8192.
HEAP_ARRAYS = 32 * 2**20
#: While kept, up to this much free memory at the top of the heap stays mapped for the next block instead of
#: going back to the system.  The heap only ever holds what was in use at once, so this costs no memory by itself.
HEAP_KEPT_FREE = 256 * 2**20
#: glibc's default of both thresholds.
_GLIBC_DEFAULT = 128 * 1024
#: Where glibc's own adjustment leaves the thresholds once a NumPy program has freed an array of HEAP_ARRAYS
#: bytes (it raises the mmap threshold to the freed size and the trim threshold to twice that): what
#: :func:`restore_heap` sets when the environment sets neither.
_ADJUSTED = {"MALLOC_MMAP_THRESHOLD_": HEAP_ARRAYS, "MALLOC_TRIM_THRESHOLD_": 2 * HEAP_ARRAYS}

_holders = 0
_lock = threading.Lock()


def keep_heap() -> bool:
    """Keep freed memory on this process's heap for the next block (glibc; elsewhere nothing changes).

    Counted, so that overlapping users (two kernels on one worker, runs in threads) share it:
    each call that returned True is matched by one :func:`restore_heap`.

    Returns:
        True when glibc took the settings.

    Example:
        >>> if keep_heap():
        ...     restore_heap()
    """
    global _holders
    with _lock:
        if _holders == 0 and not _mallopt(HEAP_ARRAYS, HEAP_KEPT_FREE):
            return False
        _holders += 1
        return True


def restore_heap() -> None:
    """Undo one :func:`keep_heap`; after the last, the thresholds the environment sets, or where glibc's adjustment ends.

    glibc adjusts its thresholds by itself only while neither is set; once restored they stay
    where they were put (with the environment's variables they never moved anyway, as on Dask's workers).

    Example:
        >>> if keep_heap():
        ...     restore_heap()
    """
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            _mallopt(*_restored())


@contextlib.contextmanager
def kept_heap() -> Iterator[bool]:
    """:func:`keep_heap` for the ``with`` block, restored afterwards.

    Yields:
        Whether the heap is kept (False without glibc).

    Example:
        >>> with kept_heap():
        ...     pass
    """
    kept = keep_heap()
    try:
        yield kept
    finally:
        if kept:
            restore_heap()


def _restored() -> tuple[int, int]:
    """The (mmap, trim) thresholds the process had before: the environment's, else where glibc's adjustment ends.

    With either variable set glibc never adjusts, and the other stays at its default.
    """
    given = {name: os.environ.get(name) for name in _ADJUSTED}
    if all(value is None for value in given.values()):
        return _ADJUSTED["MALLOC_MMAP_THRESHOLD_"], _ADJUSTED["MALLOC_TRIM_THRESHOLD_"]

    def value(name: str) -> int:
        try:
            return int(given[name])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return _GLIBC_DEFAULT

    return value("MALLOC_MMAP_THRESHOLD_"), value("MALLOC_TRIM_THRESHOLD_")


def _mallopt(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's two thresholds; False where there is no glibc or it refused."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # another C library
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
