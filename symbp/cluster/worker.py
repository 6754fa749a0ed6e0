"""What runs on the Dask workers: plain functions of NumPy values.

Dask sends these functions by reference (module and name), so every worker
imports this module; it holds nothing that needs the client.  The functions
never raise symbp's exceptions for data they cannot use: they return a
:class:`Problem`, and the client (:mod:`symbp.cluster.partitions`) words the
message, because only the client knows where a partition's rows start.

A partition is ``(X_i, y_i)``: float64, ``X_i`` (n_i, p) in C order, ``y_i`` (n_i,) or (n_i, d).

While a kernel is installed, its temporaries stay on the worker's heap between calls
(:func:`symbp.training.heap.keep_heap`): Dask's nanny starts its workers with
``MALLOC_TRIM_THRESHOLD_=65536``, which also pins glibc's mmap threshold at 128 KiB, so that every
per-block array of a kernel (M × 8192 floats, 192 KiB at M = 3) would otherwise be a fresh
mapping whose pages fault in on each call.
"""

from __future__ import annotations

import enum
import hashlib
import types
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from symbp.training.heap import keep_heap, restore_heap

__all__ = [
    "PartitionUnavailable",
    "Problem",
    "ProblemKind",
    "Summary",
    "column_sums",
    "compile_kernel",
    "converted",
    "kernel_plugin",
    "pack",
    "partition_loss_and_grad",
    "read_csv_rows",
    "read_npy_rows",
    "scaled",
    "squared_deviations",
    "summarize",
    "warm_up",
]

Part = tuple[np.ndarray, np.ndarray]


class PartitionUnavailable(RuntimeError):
    """A partition's data could not be rebuilt on the worker asked for them (the client stops the run with a checkpoint)."""


class ProblemKind(enum.Enum):
    """What is wrong with a partition's data."""

    NOT_A_NUMBER = "not a number"
    NOT_FINITE = "not finite"
    UNREADABLE = "unreadable"
    NOT_UTF8 = "not UTF-8"  # a CSV block; text: the decoder's reason
    MALFORMED = "malformed"  # a CSV block the csv module cannot split; text: its reason
    FIELDS = "fields"  # a CSV row of another width; column: the number of fields found


@dataclass(frozen=True)
class Problem:
    """A data problem a worker found in one partition; the client words the message.

    For a CSV block, ``line`` is the 1-based line in the block where the problem's row starts and
    ``column`` the file's column; for an ``.npy`` block, ``row`` and ``column`` are those of the file's
    rows in the block (all columns); for arrays sent by the client, of X or y (``what``).
    """

    kind: ProblemKind
    what: str = ""  # "inputs" or "targets"
    row: int = 0  # within the partition
    column: int = 0  # within X or y (a file's column for files)
    text: str = ""  # the cell, the value, or the reader's message
    line: int = 0  # a CSV block's line


# eq=False: the target ranges are arrays.
@dataclass(frozen=True, eq=False)
class Summary:
    """What the client learns of a partition before training: its size and target range, or its first problem.

    Attributes:
        n: Rows (0 when there is a problem).
        d: Target columns.
        y_min, y_max: Per target column, when ``n > 0``: a constant target is
            one whose minimum over all partitions equals its maximum.
        x_peak: The largest |input| (0 without rows), checked as the local reader checks it.
        problem: The first problem found, in row order.
    """

    n: int
    d: int = 0
    y_min: np.ndarray | None = None
    y_max: np.ndarray | None = None
    problem: Problem | None = None
    x_peak: float = 0.0


def pack(X: np.ndarray, y: np.ndarray) -> Part:
    """A partition from rows the client sent (the task that makes it can be rerun elsewhere).

    Args:
        X, y: The partition's rows of the inputs and the targets.

    Returns:
        ``(X, y)``, as the worker keeps it.

    Example:
        >>> pack(np.zeros((2, 1)), np.ones(2))[1]
        array([1., 1.])
    """
    # The kernels read X in C order (the client sends copies, already in it), and aligned: rows sent in a
    # message may arrive at any offset of its frame (see aligned).
    return aligned((np.ascontiguousarray(X), y))


def read_npy_rows(path: str, start: int, stop: int, features: list[int], targets: list[int], single: bool) -> Part | Problem:
    """Rows ``start:stop`` of a memory-mapped ``.npy`` file as float arrays: only these rows are read.

    Args:
        path: The file, as every worker sees it.
        start, stop: The row range.
        features, targets: The file's input and target column indices.
        single: True for a 1-D ``y``.

    Returns:
        The partition, or a :class:`Problem`: unreadable, or the first value that is not finite in
        the rows (all columns, row by row, as :func:`symbp.data.load` looks for it).
    """
    try:
        rows = np.array(np.load(path, mmap_mode="r", allow_pickle=False)[start:stop], dtype=np.float64)
    except (ValueError, OSError, EOFError) as err:
        return Problem(ProblemKind.UNREADABLE, text=str(err).splitlines()[0] if str(err) else type(err).__name__)
    bad = np.argwhere(~np.isfinite(rows))
    if bad.size:
        row, column = (int(k) for k in bad[0])
        return Problem(ProblemKind.NOT_FINITE, "the array", row, column, str(rows[row, column]))
    X = np.ascontiguousarray(rows[:, features])
    y = rows[:, targets[0]].copy() if single else np.ascontiguousarray(rows[:, targets])
    return X, y


def read_csv_rows(path: str, start: int, stop: int, width: int, features: list[int], targets: list[int], single: bool) -> Part | Problem:
    """The rows of a CSV file that start in bytes ``start:stop``, read as :func:`symbp.data.load` reads a whole file.

    The same function (:func:`symbp.data.csv_table.read_table`) parses both, so a file gets the
    same numbers and the same first problem either way; the client words the message from the
    :class:`Problem`, knowing where the block starts in the file.

    Args:
        path: The file, as every worker sees it.
        start, stop: The byte range; ``start`` is a line start (the client begins after the header).
        width: The number of columns of the header.
        features, targets: The input and target column indices.
        single: True for a 1-D ``y``.

    Returns:
        The partition, or the block's first :class:`Problem`.
    """
    from symbp.data.columns import take_inputs_and_targets
    from symbp.data.csv_table import TableProblem, read_table

    table = read_table(path, start, stop, width)
    if isinstance(table, TableProblem):
        kind = _PROBLEM_KINDS[table.kind.name]
        column = table.found if kind is ProblemKind.FIELDS else table.column
        return Problem(kind, row=table.row, column=column, text=table.cell, line=table.line)
    return take_inputs_and_targets(table, features, targets, single)


#: The worker's name for each kind of :class:`symbp.data.csv_table.TableProblem`.
_PROBLEM_KINDS = {"NOT_UTF8": ProblemKind.NOT_UTF8, "MALFORMED": ProblemKind.MALFORMED, "FIELDS": ProblemKind.FIELDS,
                  "NOT_A_NUMBER": ProblemKind.NOT_A_NUMBER, "NOT_FINITE": ProblemKind.NOT_FINITE}


def summarize(part: Part | Problem) -> Summary:
    """Rows, target columns and range, or the first problem, of one partition.

    Args:
        part: The partition, or the problem its reader found.

    Returns:
        The summary; its problem is the first value, in row order, that is not finite.

    Example:
        >>> summarize((np.zeros((2, 1)), np.array([1.0, np.inf]))).problem.text
        'inf'
    """
    if isinstance(part, Problem):
        return Summary(n=0, problem=part)
    X, y = part
    Y = y.reshape(len(y), -1)
    for what, array in (("inputs", X), ("targets", Y)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            row, column = (int(k) for k in bad[0])
            return Summary(n=0, problem=Problem(ProblemKind.NOT_FINITE, what, row, column, str(array[row, column])))
    if not X.shape[0]:
        return Summary(n=0, d=int(Y.shape[1]))
    return Summary(n=int(X.shape[0]), d=int(Y.shape[1]), y_min=Y.min(axis=0), y_max=Y.max(axis=0), x_peak=float(np.max(np.abs(X))))


def column_sums(part: Part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per input column: the sum, the minimum and the maximum (for the mean and for constant columns).

    Args:
        part: The partition.

    Returns:
        Three arrays of shape ``(p,)``.

    Example:
        >>> column_sums((np.array([[1.0, 5.0], [3.0, 5.0]]), np.zeros(2)))[0]
        array([ 4., 10.])
    """
    X = part[0]
    return X.sum(axis=0), X.min(axis=0), X.max(axis=0)


def squared_deviations(part: Part, *, mean: np.ndarray) -> np.ndarray:
    """Per input column: Σ (x − mean)², the partition's share of the variance times n.

    Args:
        part: The partition.
        mean: The column means of all the data.

    Returns:
        An array of shape ``(p,)``.

    Example:
        >>> squared_deviations((np.array([[1.0], [3.0]]), np.zeros(2)), mean=np.array([2.0]))
        array([2.])
    """
    centred = part[0] - mean
    return np.sum(centred * centred, axis=0)


def scaled(part: Part, *, mean: np.ndarray, scale: np.ndarray) -> Part:
    """The partition with its inputs standardised, ``(X − mean) / scale``; the targets as they were.

    Args:
        part: The partition.
        mean, scale: The statistics of all the data, as :class:`symbp.data.Standardizer` holds them.

    Returns:
        The standardised partition.

    Example:
        >>> scaled((np.array([[1.0], [3.0]]), np.zeros(2)), mean=np.array([2.0]), scale=np.array([1.0]))[0]
        array([[-1.],
               [ 1.]])
    """
    X, y = part
    return (X - mean) / scale, y


def converted(part: Part, *, dtype: str) -> Part:
    """The partition in the floating-point type of a float32 kernel, made once per run where the partition lives.

    Otherwise the kernel would convert X_i and y_i on every step.  The data were checked to lie within
    the type's range before (:func:`symbp.training.fit.check_ranges` and the objective's own check).

    Example:
        >>> converted((np.ones((2, 1)), np.zeros(2)), dtype="float32")[0].dtype
        dtype('float32')
    """
    if isinstance(part, Problem):  # left for the step to report
        return part
    X, y = part
    return X.astype(dtype), y.astype(dtype)


def kernel_plugin(digest: str, source: str) -> Any:
    """A worker plugin that compiles the kernel's source on each worker it is set up on, and keeps the heap for its temporaries.

    Args:
        digest: The sha256 of ``source`` (hex), as the client computed it.
        source: The kernel's text.

    Returns:
        The plugin, to be registered with ``client.register_plugin``; its
        ``module`` is the compiled kernel once set up.  While it is set up, the
        worker's heap keeps the kernel's temporaries (:func:`keep_heap`); its
        teardown (``unregister_worker_plugin``) hands that back (:func:`restore_heap`).

    Example:
        >>> plugin = kernel_plugin(digest, source)        # doctest: +SKIP
        >>> client.register_plugin(plugin, name="k")      # doctest: +SKIP
    """
    # The class is made here so that distributed is imported only when a kernel is sent.
    from distributed.diagnostics.plugin import WorkerPlugin

    class KernelPlugin(WorkerPlugin):
        def __init__(self, digest: str, source: str) -> None:
            self.digest, self.source, self.module, self.heap_kept = digest, source, None, False

        def setup(self, worker: Any) -> None:
            self.module = compile_kernel(self.digest, self.source)
            self.heap_kept = keep_heap()

        def teardown(self, worker: Any) -> None:
            if self.heap_kept:
                self.heap_kept = False
                restore_heap()

    return KernelPlugin(digest, source)


#: The threads a kernel evaluates its blocks on, on a worker: one, that of the partition's task.
WORKER_KERNEL_THREADS = 1


def compile_kernel(digest: str, source: str) -> types.ModuleType:
    """Exec the kernel's source into a fresh module, after checking it is the text the client hashed.

    Args:
        digest: The sha256 of ``source`` (hex).
        source: The kernel's text.

    Returns:
        The module, with ``loss_and_grad`` and the rest of the kernel, set to evaluate its blocks in
        the calling thread only (:data:`WORKER_KERNEL_THREADS`).

    Raises:
        RuntimeError: The text does not match the digest (it was changed on the way).
    """
    if hashlib.sha256(source.encode("utf-8")).hexdigest() != digest:
        raise RuntimeError("the kernel source received by this worker does not match its sha256")
    module = types.ModuleType(f"symbp_kernel_{digest[:12]}")
    exec(compile(source, f"<symbp kernel {digest[:12]}>", "exec"), module.__dict__)
    # The partitions are already spread over the workers' threads, one per thread: a kernel that
    # evaluated its blocks on all the cores as well would run cores × threads blocks at once.
    module.THREADS = WORKER_KERNEL_THREADS
    return module


def partition_loss_and_grad(part: Part, *, plugin: str, params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """The partition's share of R and ∇R, from the kernel the named plugin compiled on this worker.

    Args:
        part: The partition.
        plugin: The name the kernel plugin was registered under.
        params: The parameters.

    Returns:
        The kernel's ``loss_and_grad(params, X_i, y_i)``.
    """
    if isinstance(part, Problem):  # rebuilt on a worker that cannot read the file (it died where the file was)
        raise PartitionUnavailable(f"a partition of the data could not be read again on this worker ({part.text})")
    X, y = aligned(part)
    return _installed_kernel(plugin).loss_and_grad(params, X, y)


#: Aligned copies of partitions that arrived unaligned, kept while the partition itself is kept (by id).
_ALIGNED: dict[int, Part] = {}


def aligned(part: Part) -> Part:
    """The partition, or an aligned copy of it made once and kept as long as the partition is.

    Dask may copy a partition to a second worker (it gives a task to an idle worker and sends it the
    data); the copy arrives in a network frame at any offset, unaligned, and NumPy's matrix product
    then copies every block of X before multiplying it (on 250 000 × 19 rows: 63 ms a call instead of
    50, measured).  The aligned copy is made once (by :func:`warm_up`,
    or by the first step on a copy Dask makes later) and dropped with the partition; :func:`pack` keeps
    rows sent from the client aligned from the start.

    Example:
        >>> X = np.ones((4, 2)); part = (X, np.ones(4))
        >>> aligned(part) is part
        True
    """
    X, y = part
    if X.flags.aligned and y.flags.aligned:
        return part
    key = id(X)
    found = _ALIGNED.get(key)
    if found is None:
        found = _ALIGNED[key] = (np.array(X, order="C"), np.array(y))
        weakref.finalize(X, _ALIGNED.pop, key, None)
    return found


def warm_up(part: Part, *, plugin: str) -> int:
    """One evaluation of the kernel on the partition's first block of rows and its last, shorter one, the answer discarded.

    Run once per partition before the first step, where the partition lives, so that the first
    step finds the kernel compiled, BLAS started and the kernel's kept arrays made for both block
    sizes the partition has (a full block and the rest), so that the first step costs what every
    step costs.

    Args:
        part: The partition.
        plugin: The name the kernel plugin was registered under.

    Returns:
        The number of rows evaluated (0 for a partition that cannot be used: the step will say why).

    Example:
        >>> warm_up((X, y), plugin=objective.plugin)      # doctest: +SKIP
        8192
    """
    if isinstance(part, Problem):
        return 0
    kernel = _installed_kernel(plugin)
    X, y = aligned(part)  # a copy Dask made of the partition is aligned here, before the first step
    block = int(getattr(kernel, "BLOCK", X.shape[0]))
    rest = X.shape[0] % block if X.shape[0] > block else 0
    rows = min(X.shape[0], block + rest)  # the first block, and one as long as the last when that is shorter
    with np.errstate(all="ignore"):  # the numbers do not matter, only the work
        kernel.loss_and_grad(kernel.init_params(X.shape[1]), X[:rows], y[:rows])
    return rows


def _installed_kernel(plugin: str) -> types.ModuleType:
    """The kernel module the named plugin compiled on this worker."""
    from distributed import get_worker

    installed = get_worker().plugins.get(plugin)
    if installed is None:
        raise RuntimeError(f"the kernel plugin {plugin} is not installed on this worker")
    if installed.module is None:  # a task that overtook the plugin's setup
        installed.module = compile_kernel(installed.digest, installed.source)
    return installed.module
