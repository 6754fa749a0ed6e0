"""Gradient descent on a Dask cluster: the runner's objective, evaluated where the data live.

R = Σᵢ ‖yᵢ − f(xᵢ)‖² is a sum over samples, so R and ∇R are sums of the same
quantities over any split of the rows.  This module splits the data into
partitions held in the workers' memory and evaluates the kernel's
``loss_and_grad`` on each partition where it lives; the client adds the
partial sums in partition order, so the result does not depend on which
worker ran what.  The runner (:func:`symbp.runner.run`) is unchanged: it is
handed a :class:`DaskObjective` instead of a closure over in-memory arrays.

What travels:

* the data, once, into the workers' memory (:class:`Partitions`): read there
  from a CSV file (``dask.dataframe``) or an ``.npy`` file (memory-mapped row
  ranges), or sent from the client for in-memory arrays and ``.npz`` files;
* the kernel, once, as its source text, which a worker plugin compiles into a
  fresh module on every worker, present and future (a restarted one too);
* the parameters, at each evaluation, as the small argument of one task per
  partition.

Fault tolerance: every partition is the result of a task whose inputs are a
file name and a row range, or the rows themselves, so when a worker dies
Dask recomputes its partitions elsewhere and reruns the step's tasks; the
step completes with the same result.

Dask is optional (``pip install -e ".[dask]"``): it is imported only when a
function here is called.

Example:
    >>> client = connect(None)                                  # doctest: +SKIP
    >>> parts = read_data(client, "runs.csv", target="y")       # doctest: +SKIP
    >>> result = train_on_cluster("k.py", parts, client, steps=200)   # doctest: +SKIP
    >>> client.close()                                          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import types
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from symbp.data.read import Standardizer, _check_header, _csv_targets, _npy_targets
from symbp.data.read import load as load_file
from symbp.errors import DataError, UserError
from symbp.kernel.load import load_kernel
from symbp.training.runner import DIVERGENCE_FACTOR, RunResult, run
from symbp.training.settings import RUN_SETTINGS_KEYWORDS, RunSettings, settings_from

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = [
    "DaskObjective",
    "Partitions",
    "connect",
    "partition",
    "read_data",
    "standardize",
    "train_on_cluster",
]

#: What ``pip`` needs for this module; named in the message when Dask is missing.
INSTALL_HINT = 'pip install -e ".[dask]"'
#: The local cluster :func:`connect` starts: two single-threaded worker processes on the loopback interface.
LOCAL_CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "processes": True, "host": "127.0.0.1", "dashboard_address": None}
#: Default partition size when the caller gives no count: large enough that the
#: per-task overhead (a few ms) is small, small enough to spread over workers.
PARTITION_BYTES = 64 * 2**20
#: Each per-partition task is retried this often if it raises (a worker that dies is handled by Dask itself).
RETRIES = 2

_ADDRESS = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
_ADDRESS_FORMS = "use tcp://HOST:PORT for a running scheduler (e.g. tcp://127.0.0.1:8786), or no address to start a local cluster on 127.0.0.1"


def _require_dask() -> None:
    """Import dask.dataframe and distributed, or say how to install them."""
    try:
        import dask.dataframe  # noqa: F401  (needs pandas: the [dataframe] extra)
        import distributed  # noqa: F401
    except ImportError as err:
        raise UserError(f"training on Dask needs dask[dataframe] and distributed ({err}); install them with {INSTALL_HINT}") from err


# --- the cluster ---------------------------------------------------------------------


def connect(address: str | None, *, timeout: float = 10.0) -> Client:
    """A Dask client: a new local cluster, or a running scheduler.

    Args:
        address: None starts a local cluster of two single-threaded worker
            processes on 127.0.0.1, without a dashboard; ``tcp://HOST:PORT``
            connects to a scheduler already running there.
        timeout: seconds to wait for a running scheduler to answer.

    Returns:
        A ``distributed.Client``.  Close it when done (``client.close()`` or
        ``with connect(...) as client``); that also stops a local cluster it started.

    Raises:
        UserError: the address has another form, the scheduler cannot be
        reached, or Dask is not installed.

    Example:
        >>> with connect(None) as client:                # doctest: +SKIP
        ...     print(len(client.scheduler_info()["workers"]))
        2
    """
    if address is not None and (not isinstance(address, str) or not _valid_address(address)):
        raise UserError(f"invalid Dask scheduler address {address!r}: {_ADDRESS_FORMS}")
    _require_dask()
    from distributed import Client

    if address is None:
        # Client(**kwargs) starts a LocalCluster that it owns and closes with itself.
        client = Client(**LOCAL_CLUSTER)
        # Ctrl-C reaches the whole foreground process group, local workers included; they
        # would shut down and leave the step hanging.  Interrupting is the client's business
        # (the CLI stops between two steps), so the workers, restarted ones too, ignore it.
        client.register_plugin(_ignore_interrupts_plugin(), name="symbp-ignore-sigint")
        return client
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"cannot reach the Dask scheduler at {address} ({reason}); start one there "
            "('dask scheduler'), or give no address to start a local cluster"
        ) from err


def _valid_address(address: str) -> bool:
    match = _ADDRESS.fullmatch(address)
    return bool(match) and 0 < int(match.group(2)) < 65536


# --- partitions: the data, split by rows, in the workers' memory -------------------------


@dataclass(frozen=True, eq=False)
class Partitions:
    """Training data split by rows, each partition ``(X_i, y_i)`` held by a worker.

    Build them with :func:`partition` (arrays in memory) or :func:`read_data`
    (files); both check the data on the cluster first.  The rows of partition
    i come before those of partition i + 1, so the partitions in order are the
    data set.

    Attributes:
        client: the client whose cluster holds the partitions.
        futures: one ``distributed.Future`` per partition, whose value is
            ``(X_i, y_i)``: float64, X_i (n_i, p), y_i (n_i,) or (n_i, d).
        sizes: n_i, the rows of each partition (none is empty).
        p: input columns.
        d: target columns (1 when y is 1-D).
        y_ndim: 1 or 2, as the targets were given.
        source: where the data came from, for messages.
    """

    client: Client
    futures: tuple[Future, ...]
    sizes: tuple[int, ...]
    p: int
    d: int
    y_ndim: int
    source: str

    @property
    def n(self) -> int:
        """Number of rows in all partitions."""
        return sum(self.sizes)

    def release(self) -> None:
        """Let the workers drop the data (the object cannot be used afterwards)."""
        for future in self.futures:
            future.release()


def partition(
    X: np.ndarray,
    y: np.ndarray,
    n_partitions: int | Sequence[int],
    *,
    client: Client | None = None,
    source: str = "the data",
) -> Partitions:
    """Split in-memory arrays by rows and place the partitions on the cluster.

    Each partition's rows travel with the task that makes it, so the cluster
    can rebuild a partition on another worker if the one holding it dies.
    Meant for data that fit in the client's memory (tests, ``.npz`` files);
    for large data use :func:`read_data`, which reads on the workers.

    Args:
        X: inputs (n, p).  y: targets (n,) or (n, d).
        n_partitions: how many partitions of (nearly) equal size, or the
            list of their sizes, which must add up to n.
        client: the cluster to use (default: the current client).
        source: names the data in messages.

    Returns:
        The :class:`Partitions`, checked (finite values) on the cluster.

    Raises:
        DataError: the shapes do not fit together, a value is NaN or
        infinite, or the sizes do not split the rows.

    Example:
        >>> parts = partition(X, y, [60, 30, 10], client=client)   # doctest: +SKIP
    """
    _require_dask()
    client = client if client is not None else _current_client()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"{source}: inputs have shape {X.shape}; expected (n, p), one row per sample")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise DataError(f"{source}: targets have shape {y.shape} for {X.shape[0]} samples; expected ({X.shape[0]},) or ({X.shape[0]}, d)")
    sizes = _split_sizes(X.shape[0], n_partitions, source)
    bounds = np.cumsum((0, *sizes))
    futures = [
        client.submit(_pack, X[a:b].copy(), y[a:b].copy(), pure=False)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    return _checked(client, futures, source, p=X.shape[1], y_ndim=y.ndim, columns=None)


def read_data(
    client: Client,
    path: str | os.PathLike[str],
    target: str | Sequence[str] | None = None,
    *,
    n_partitions: int | None = None,
) -> Partitions:
    """Read a data file into partitions on the cluster.

    The formats and the meaning of ``target`` are those of
    :func:`symbp.data.load`:

    * ``.csv`` (header required, target column(s) by name): read by
      ``dask.dataframe.read_csv`` on the workers, in blocks of bytes;
    * ``.npy`` (2-D; target a column index, default the last): the client
      reads only the header; each worker memory-maps the file and copies its
      own row range;
    * ``.npz`` (arrays X and y; target ignored): small by nature, read by the
      client and sent (see :func:`partition`).

    For CSV and ``.npy`` the workers open the file by its absolute path, so
    they must see the same file system as the client (always true for the
    local cluster).

    Args:
        client: the cluster.
        path: the data file.
        target: as for :func:`symbp.data.load`.
        n_partitions: how many partitions (for CSV approximately: the file is
            cut into this many byte blocks at line ends).  Default: one per
            64 MiB of data, and at least one per worker thread.

    Returns:
        The :class:`Partitions`, checked on the cluster: numbers only,
        finite, targets not constant.

    Raises:
        DataError: the file is missing, of another kind, or its contents are
        unusable; the message names the place.
    """
    _require_dask()
    source = os.fspath(path)
    file = Path(source)
    if not file.is_file():
        raise DataError(f"{source}: no such file; give the path of a .csv, .npy or .npz file")
    suffix = file.suffix.lower()
    if n_partitions is not None and (isinstance(n_partitions, bool) or not isinstance(n_partitions, int) or n_partitions < 1):
        raise UserError(f"n_partitions must be a positive integer, got {n_partitions!r}")
    if suffix == ".npz":
        data = load_file(file)
        count = n_partitions or _default_partitions(client, data.X.nbytes + data.y.nbytes)
        return partition(data.X, data.y, min(count, data.n), client=client, source=source)
    if suffix == ".csv":
        return _read_csv(client, file.resolve(), source, target, n_partitions)
    if suffix == ".npy":
        return _read_npy(client, file.resolve(), source, target, n_partitions)
    raise DataError(f"{source}: unknown file kind {file.suffix or '(no suffix)'!r}; allowed suffixes are .csv, .npy, .npz")


def _read_csv(client: Client, file: Path, source: str, target: Any, n_partitions: int | None) -> Partitions:
    import dask
    import dask.dataframe as dd

    header_line, header = _csv_header(file, source)
    names = _check_header(header, header_line, source)
    targets, single = _csv_targets(target, names, header_line, source)
    features = [name for name in names if name not in targets]
    if not features:
        raise DataError(f"{source}: no input column left after taking the target column(s) {targets}; the file needs at least one input column")
    size = file.stat().st_size
    count = n_partitions or _default_partitions(client, size)
    # Every column as text: the worker converts and can then say which cell is not a number.
    # dask reads the start of the file here (its sample) to check the columns.
    try:
        with dask.config.set({"dataframe.convert-string": False}):
            frame = dd.read_csv(str(file), blocksize=max(1, math.ceil(size / count)), dtype=object, header=0, names=names, na_filter=False)
            parts = frame.to_delayed()
    except (ValueError, OSError) as err:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
        reason = str(err).strip().splitlines()[-1].removeprefix("Original Message: ") if str(err).strip() else type(err).__name__
        raise DataError(f"{source}: cannot read as CSV ({reason}); expected a header row of column names and rows of numbers") from err
    futures = client.compute([dask.delayed(_frame_to_arrays, pure=False)(part, features, targets, single) for part in parts])
    columns = _Columns(tuple(features), tuple(targets), csv=True)
    return _checked(client, futures, source, p=len(features), y_ndim=1 if single else 2, columns=columns)


def _csv_header(file: Path, source: str) -> tuple[int, list[str]]:
    """The first non-blank line of the file, split into column names (the client reads nothing else)."""
    import csv

    with file.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        try:
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    return reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as err:
            raise DataError(f"{source}: cannot read the header ({err}); expected a header row of column names and rows of numbers") from err
    raise DataError(f"{source}: the file holds no header; expected a header row of column names and rows of numbers")


def _read_npy(client: Client, file: Path, source: str, target: Any, n_partitions: int | None) -> Partitions:
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)  # reads the header only
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{source}: cannot read as .npy ({err}); expected a 2-D numeric array saved with numpy.save") from err
    if not isinstance(array, np.ndarray):
        raise DataError(f"{source}: holds an .npz archive, not a single .npy array; rename it to .npz")
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
        raise DataError(f"{source}: the array has dtype {array.dtype}; expected real numbers (integer or float)")
    if array.ndim != 2 or array.shape[0] == 0:
        raise DataError(f"{source}: holds an array of shape {array.shape}; expected a 2-D array (rows x columns) with at least one row")
    n, width = array.shape
    del array  # close the map
    cols, single = _npy_targets(target, width, source)
    features = [j for j in range(width) if j not in cols]
    if not features:
        raise DataError(f"{source}: no feature columns left after taking target column(s) {cols} of {width}; the array needs at least one input column besides the target")
    count = min(n, n_partitions or _default_partitions(client, n * width * 8))
    sizes = _split_sizes(n, count, source)
    bounds = np.cumsum((0, *sizes))
    futures = [
        client.submit(_read_npy_rows, str(file), int(a), int(b), features, cols, single, pure=False)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    columns = _Columns(tuple(map(str, features)), tuple(map(str, cols)), csv=False)
    return _checked(client, futures, source, p=len(features), y_ndim=1 if single else 2, columns=columns)


@dataclass(frozen=True)
class _Columns:
    """How messages name the rows and columns of a data source."""

    features: tuple[str, ...]  # names (CSV) or file column indices (.npy), in the order of X
    targets: tuple[str, ...]
    csv: bool

    def place(self, what: str, row: int, column: int) -> str:
        label = (self.features if what == "inputs" else self.targets)[column]
        if self.csv:
            return f"data row {row + 1} (counting from 1 below the header), column {label!r}"
        return f"row {row}, column {label} (counting from 0)"


@dataclass(frozen=True)
class _Problem:
    """A data problem a worker found in one partition; the client words the message."""

    kind: str  # "not a number", "not finite" or "unreadable"
    what: str = ""  # "inputs" or "targets"
    row: int = 0  # within the partition
    column: int = 0  # within X or y
    text: str = ""  # the cell, the value, or the reader's message


def _checked(
    client: Client,
    futures: list[Future],
    source: str,
    *,
    p: int,
    y_ndim: int,
    columns: _Columns | None,
) -> Partitions:
    """Summarise every partition on the cluster; raise DataError on the first problem, in row order.

    ``columns`` is given for files, whose targets must also not be constant.
    """
    from distributed import KilledWorker, wait

    pending = client.map(_summary, futures, pure=False)
    wait(pending)
    for k, future in enumerate(pending):  # the first failure in row order
        if future.status == "error":
            err = future.exception()
            if isinstance(err, KilledWorker):
                raise err  # the cluster failed, not the data
            for each in futures:
                each.release()
            # A reader failed on a worker (pandas, numpy): any exception type can come back.
            reason = (str(err).strip().splitlines() or [""])[0]
            raise DataError(
                f"{source}: cannot read block {k + 1} of {len(futures)} ({type(err).__name__}: {reason}; "
                f"a line number here counts from the start of that block); expected {_EXPECTED}"
            ) from err
    summaries = client.gather(pending)
    offset = 0
    for summary in summaries:
        if "problem" in summary:
            for future in futures:
                future.release()
            raise DataError(_describe(summary["problem"], offset, source, columns))
        offset += summary["n"]
    if offset == 0:
        raise DataError(f"{source}: there are no samples (n = 0); expected at least one row")
    filled = [s for s in summaries if s["n"]]
    d = filled[0]["d"]
    if columns is not None:
        low = np.min([s["y_min"] for s in filled], axis=0)
        high = np.max([s["y_max"] for s in filled], axis=0)
        for k in range(d):
            if low[k] == high[k]:
                where = "the target" if d == 1 else f"target column {columns.targets[k]!r}"
                raise DataError(
                    f"{source}: {where} is constant (every row is {low[k]:g}), so a network cannot learn anything "
                    "from it; choose a target column whose values vary"
                )
    kept = []
    for future, summary in zip(futures, summaries):
        if summary["n"]:
            kept.append((future, summary["n"]))
        else:
            future.release()  # an empty block at the end of a CSV file, say
    return Partitions(
        client=client,
        futures=tuple(future for future, _ in kept),
        sizes=tuple(size for _, size in kept),
        p=p,
        d=d,
        y_ndim=y_ndim,
        source=source,
    )


_EXPECTED = "a header row of column names and rows of numbers (.csv), or a 2-D numeric array (.npy)"


def _describe(problem: _Problem, offset: int, source: str, columns: _Columns | None) -> str:
    """One line for a problem found in a partition whose first row is row ``offset`` of the data."""
    if problem.kind == "unreadable":
        return f"{source}: cannot read the data ({problem.text}); expected {_EXPECTED}"
    row = offset + problem.row
    if columns is not None:
        place = columns.place(problem.what, row, problem.column)
    else:
        place = f"row {row} (0-based)"
    if problem.kind == "not a number":
        return f"{source}: {place}: {problem.text!r} is not a number; expected a number in every cell (missing values are not supported)"
    return f"{source}: {problem.what} contain {problem.text} at {place}; expected finite numbers (remove or fill in NaN and infinite values)"


def _split_sizes(n: int, n_partitions: int | Sequence[int], source: str) -> tuple[int, ...]:
    if isinstance(n_partitions, (int, np.integer)) and not isinstance(n_partitions, bool):
        count = int(n_partitions)
        if not 1 <= count <= max(n, 1):
            raise DataError(f"{source}: cannot split {n} rows into {count} partitions; choose between 1 and {n}")
        return tuple(int(len(rows)) for rows in np.array_split(np.arange(n), count))
    try:
        sizes = tuple(int(size) for size in n_partitions)
    except (TypeError, ValueError):
        raise UserError(f"n_partitions must be a count or a list of partition sizes, got {n_partitions!r}") from None
    if not sizes or min(sizes) < 1 or sum(sizes) != n:
        raise DataError(f"{source}: partition sizes {list(sizes)} do not split the {n} rows; give positive sizes that add up to {n}")
    return sizes


def _default_partitions(client: Client, nbytes: int) -> int:
    threads = sum(client.nthreads().values()) or 1
    return max(threads, math.ceil(nbytes / PARTITION_BYTES))


def _current_client() -> Client:
    from distributed import get_client

    try:
        return get_client()
    except ValueError as err:
        raise UserError("no Dask client: pass client=connect(...) (symbp.cluster.connect)") from err


# --- standardising on the cluster -----------------------------------------------------


def standardize(partitions: Partitions) -> tuple[Partitions, Standardizer]:
    """Centre and scale the input columns, with statistics computed on the cluster.

    The statistics are those of :meth:`symbp.data.Standardizer.fit` on all rows
    (population standard deviation; scale 1 for a constant column), up to
    rounding in the last bits.  The standardised partitions are new tasks on
    the old ones, so they too can be rebuilt after a worker dies; release
    ``partitions`` only if you will not need the raw data again.

    Returns:
        The standardised partitions and the :class:`~symbp.data.Standardizer`
        (save its ``mean`` and ``scale`` with the parameters).
    """
    client = partitions.client
    first = client.gather(client.map(_column_sums, partitions.futures, pure=False))
    n = partitions.n
    mean = np.sum([s for s, _, _ in first], axis=0) / n  # in partition order
    constant = np.min([lo for _, lo, _ in first], axis=0) == np.max([hi for _, _, hi in first], axis=0)
    squares = client.gather(client.map(_squared_deviations, partitions.futures, mean=mean, pure=False))
    scale = np.where(constant, 1.0, np.sqrt(np.sum(squares, axis=0) / n))
    scaler = Standardizer(mean=mean, scale=scale)
    futures = tuple(client.map(_scaled, partitions.futures, mean=mean, scale=scale, pure=False))
    return Partitions(client, futures, partitions.sizes, partitions.p, partitions.d, partitions.y_ndim, partitions.source), scaler


# --- the objective ----------------------------------------------------------------------


class DaskObjective:
    """The runner's objective ``(params, batch) -> (R, ∇R)``, evaluated partition by partition.

    On creation the kernel is loaded and checked on the client (its body
    hash, as :func:`symbp.load_kernel` does), the data are checked against it
    (p and d), and its source text is registered as a worker plugin, which
    compiles it into a fresh module on every worker, including workers that
    join or restart later.  Each call submits one task per partition, each
    run where its partition lives, and adds the partial (R, ∇R) in partition
    order: the same numbers whichever worker ran what.

    Args:
        client: the cluster holding the partitions.
        kernel_path: the kernel ``.py`` written by :func:`symbp.emit`.
        partitions: the data, from :func:`partition` or :func:`read_data`.
        trust: load a kernel edited by hand (as ``load_kernel(trust=True)``).

    Attributes:
        kernel: the kernel module, loaded on the client (``init_params``, P, D, ...).
        n_samples: rows in all partitions.
        plugin: the name of the worker plugin that holds the compiled kernel
            (``symbp-kernel-``, the start of its source's sha256, a unique suffix).

    Example:
        >>> objective = DaskObjective(client, "k.py", parts)           # doctest: +SKIP
        >>> R, grad = objective(objective.kernel.init_params(parts.p), None)   # doctest: +SKIP
        >>> objective.close()                                          # doctest: +SKIP
    """

    def __init__(self, client: Client, kernel_path: str | os.PathLike[str], partitions: Partitions, *, trust: bool = False) -> None:
        self.kernel = load_kernel(kernel_path, trust=trust)
        self.client = client
        self.partitions = partitions
        self.n_samples = partitions.n
        self._check_fit(str(kernel_path))
        source = Path(kernel_path).read_text(encoding="utf-8")
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        # One plugin per objective, so that closing one never takes the kernel from another.
        self.plugin = f"symbp-kernel-{digest[:16]}-{uuid.uuid4().hex[:8]}"
        try:
            client.register_plugin(_kernel_plugin(digest, source), name=self.plugin)
        except ImportError as err:  # only if a worker's environment lacks symbp
            raise UserError(f"a Dask worker cannot load the kernel ({err}); install symbp on every worker") from err

    def _check_fit(self, kernel_name: str) -> None:
        kernel, parts = self.kernel, self.partitions
        if kernel.P is not None and parts.p != kernel.P:
            raise DataError(
                f"{parts.source} has p = {parts.p} input columns, but the kernel was built for p = {kernel.P}; "
                f"emit a kernel with --inputs {parts.p} (or without --inputs)"
            )
        if parts.d != kernel.D:
            raise DataError(f"{parts.source} has {parts.d} target column(s), but the kernel {kernel_name} has d = {kernel.D} outputs")

    def __call__(self, params: dict[str, np.ndarray], batch: np.ndarray | None) -> tuple[float, dict[str, np.ndarray]]:
        """R and ∇R at ``params`` on all the data; ``batch`` must be None (full batch)."""
        if batch is not None:
            raise UserError("mini-batches are not supported with --dask: the cluster evaluates the full batch; leave out --batch-size")
        params = {name: np.asarray(value) for name, value in params.items()}
        futures = self.client.map(
            _partition_loss_and_grad, self.partitions.futures, plugin=self.plugin, params=params, pure=False, retries=RETRIES
        )
        results = self.client.gather(futures)
        # The sum in partition order: the same bits whichever worker ran what.
        loss = 0.0
        grad = {name: np.zeros(np.shape(value)) for name, value in params.items()}
        for partial_loss, partial_grad in results:
            loss += float(partial_loss)
            for name in grad:
                grad[name] += partial_grad[name]
        return loss, grad

    def close(self) -> None:
        """Remove the kernel from the workers (the partitions stay)."""
        try:
            self.client.unregister_worker_plugin(self.plugin)
        except (ValueError, KeyError, OSError, RuntimeError):
            pass  # already gone, or the client or cluster is shutting down

    def __enter__(self) -> DaskObjective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_full_batch(batch_size: int | None) -> None:
    """Refuse mini-batches: the cluster evaluates the full-batch gradient."""
    if batch_size is not None:
        raise UserError("mini-batches are not supported with --dask: the cluster evaluates the full batch; leave out --batch-size")


def train_on_cluster(
    kernel_path: str | os.PathLike[str],
    partitions_or_data: Partitions | tuple[np.ndarray, np.ndarray] | str | os.PathLike[str],
    client: Client,
    *,
    target: str | Sequence[str] | None = None,
    n_partitions: int | Sequence[int] | None = None,
    trust: bool = False,
    seed: int = 0,
    params0: dict[str, np.ndarray] | None = None,
    steps: int = 1000,
    divergence_factor: float | None = DIVERGENCE_FACTOR,
    settings: RunSettings | None = None,
    **runner_kwargs: Any,
) -> RunResult:
    """Gradient descent on the cluster: :func:`symbp.training.runner.run` with a :class:`DaskObjective`.

    Args:
        kernel_path: the kernel ``.py``.
        partitions_or_data: :class:`Partitions`; or ``(X, y)`` arrays, split by
            :func:`partition`; or a data file, read by :func:`read_data` (with
            ``target``).  Partitions made here are released at the end.
        client: the cluster.
        target, n_partitions: for the data made into partitions here.
        trust: load a kernel edited by hand.
        seed: seeds ``kernel.init_params(p, seed)`` (unused with ``params0`` or ``state``).
        params0: starting parameters instead.
        steps, divergence_factor: as for :func:`symbp.train` (same defaults).
        settings: the run's :class:`~symbp.training.settings.RunSettings`, instead of
            ``seed``, ``steps``, ``divergence_factor`` and the settings among ``runner_kwargs``.
        runner_kwargs: any other argument of :func:`symbp.training.runner.run`
            (``step_size``, ``grad_tol``, ``patience``, ``callback``,
            ``stop_requested``, ``state``, ...).  ``batch_size`` must be None.

    Returns:
        The runner's :class:`~symbp.training.state.RunResult`.

    Raises:
        UserError: mini-batches were asked for, or what the parts above raise.

    Example:
        >>> with connect(None) as client:                                  # doctest: +SKIP
        ...     result = train_on_cluster("k.py", "data.csv", client, target="y", steps=500)
    """
    keywords = dict(steps=steps, seed=seed, divergence_factor=divergence_factor)
    keywords |= {name: runner_kwargs.pop(name) for name in RUN_SETTINGS_KEYWORDS if name in runner_kwargs}
    check_full_batch(keywords.get("batch_size") if settings is None else settings.batch_size)
    owned = not isinstance(partitions_or_data, Partitions)
    if isinstance(partitions_or_data, Partitions):
        partitions = partitions_or_data
    elif isinstance(partitions_or_data, tuple):
        X, y = partitions_or_data
        count = n_partitions or min(len(X), _default_partitions(client, np.asarray(X).nbytes))
        partitions = partition(X, y, count, client=client)
    else:
        partitions = read_data(client, partitions_or_data, target, n_partitions=n_partitions)  # type: ignore[arg-type]
    try:
        with DaskObjective(client, kernel_path, partitions, trust=trust) as objective:
            if runner_kwargs.get("state") is None and params0 is None:
                params0 = objective.kernel.init_params(partitions.p, seed=seed if settings is None else settings.seed)
            settings = settings_from(train_on_cluster, settings, keywords)
            return run(objective, params0, settings=settings, n_samples=partitions.n, **runner_kwargs)
    finally:
        if owned:
            partitions.release()


# --- what runs on the workers -------------------------------------------------------------
# Plain functions of numpy values: they return descriptions of data problems
# instead of raising symbp's exceptions, and the client turns them into messages.


def _kernel_plugin(digest: str, source: str) -> Any:
    """A worker plugin that compiles the kernel's source on each worker it is set up on."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class KernelPlugin(WorkerPlugin):
        def __init__(self, digest: str, source: str) -> None:
            self.digest, self.source, self.module = digest, source, None

        def setup(self, worker: Any) -> None:
            self.module = _compile_kernel(self.digest, self.source)

    return KernelPlugin(digest, source)


def _ignore_interrupts_plugin() -> Any:
    """A worker plugin that makes the worker process ignore SIGINT."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreInterrupts(WorkerPlugin):
        idempotent = True

        def setup(self, worker: Any) -> None:
            _ignore_sigint()

    return IgnoreInterrupts()


def _ignore_sigint() -> bool:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False  # only the main thread may set handlers (a worker running in-process)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True


def _compile_kernel(digest: str, source: str) -> types.ModuleType:
    """Exec the kernel's source into a fresh module, after checking it is the text the client hashed."""
    if hashlib.sha256(source.encode("utf-8")).hexdigest() != digest:
        raise RuntimeError("the kernel source received by this worker does not match its sha256")
    module = types.ModuleType(f"symbp_kernel_{digest[:12]}")
    exec(compile(source, f"<symbp kernel {digest[:12]}>", "exec"), module.__dict__)
    return module


def _partition_loss_and_grad(part: tuple[np.ndarray, np.ndarray], *, plugin: str, params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    from distributed import get_worker

    installed = get_worker().plugins.get(plugin)
    if installed is None:
        raise RuntimeError(f"the kernel plugin {plugin} is not installed on this worker")
    if installed.module is None:  # a task that overtook the plugin's setup
        installed.module = _compile_kernel(installed.digest, installed.source)
    X, y = part
    return installed.module.loss_and_grad(params, X, y)


def _pack(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X, y


def _read_npy_rows(path: str, start: int, stop: int, features: list[int], targets: list[int], single: bool) -> Any:
    """Rows start:stop of a memory-mapped .npy file as float arrays: only these rows are read."""
    try:
        rows = np.load(path, mmap_mode="r", allow_pickle=False)[start:stop]
        X = np.array(rows[:, features], dtype=np.float64)
        y = np.array(rows[:, targets[0]] if single else rows[:, targets], dtype=np.float64)
    except (ValueError, OSError, EOFError) as err:
        return _Problem("unreadable", text=str(err).splitlines()[0] if str(err) else type(err).__name__)
    return X, y


def _frame_to_arrays(frame: Any, features: list[str], targets: list[str], single: bool) -> Any:
    """A pandas block of text cells as float arrays, or the first cell that is not a number."""
    import pandas as pd

    values = []
    for what, names in (("inputs", features), ("targets", targets)):
        for column, name in enumerate(names):
            text = frame[name]
            numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            # to_numeric gives NaN for text it cannot read, and for "nan" itself (left to the finiteness check)
            spelled_nan = text.astype("string").str.strip().str.lower().isin(["nan", "+nan", "-nan"]).fillna(False).to_numpy(dtype=bool)
            bad = np.flatnonzero(np.isnan(numbers) & ~spelled_nan)
            if bad.size:
                row = int(bad[0])
                cell = text.iloc[row]
                return _Problem("not a number", what, row, column, "" if pd.isna(cell) else str(cell))
            values.append(numbers)
    n = len(frame)
    X = np.column_stack(values[: len(features)]) if n else np.zeros((0, len(features)))
    y = values[-1] if single else (np.column_stack(values[len(features):]) if n else np.zeros((0, len(targets))))
    return X, y


def _summary(part: Any) -> dict[str, Any]:
    """Rows, target columns and range, or the first problem, of one partition."""
    if isinstance(part, _Problem):
        return {"problem": part, "n": 0}
    X, y = part
    Y = y.reshape(len(y), -1)
    for what, array in (("inputs", X), ("targets", Y)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            row, column = (int(k) for k in bad[0])
            return {"problem": _Problem("not finite", what, row, column, str(array[row, column])), "n": 0}
    summary: dict[str, Any] = {"n": int(X.shape[0]), "d": int(Y.shape[1])}
    if X.shape[0]:
        summary["y_min"], summary["y_max"] = Y.min(axis=0), Y.max(axis=0)
    return summary


def _column_sums(part: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = part[0]
    return X.sum(axis=0), X.min(axis=0), X.max(axis=0)


def _squared_deviations(part: tuple[np.ndarray, np.ndarray], *, mean: np.ndarray) -> np.ndarray:
    centred = part[0] - mean
    return np.sum(centred * centred, axis=0)


def _scaled(part: tuple[np.ndarray, np.ndarray], *, mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, y = part
    return (X - mean) / scale, y

