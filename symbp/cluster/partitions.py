"""The training data split by rows into partitions held in the workers' memory, checked on the cluster.

Every partition is the result of a task whose inputs are a file name and a
row range, or the rows themselves, so when a worker dies Dask recomputes its
partitions elsewhere.  The client reads at most a file's header: the header
and target checks are those of :func:`symbp.data.load`
(:mod:`symbp.data.columns`); the cells are checked on the workers
(:func:`symbp.cluster.worker.summarize`), and the client turns the first
problem, in row order, into a one-line message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from symbp.cluster.connect import current_client, require_dask
from symbp.cluster.worker import Problem, ProblemKind, Summary, frame_to_arrays, pack, read_npy_rows, summarize
from symbp.data import SUFFIXES, load
from symbp.data.columns import check_header, csv_target_names, npy_feature_columns, npy_target_columns
from symbp.data.messages import constant_target_message, data_error, expected_contents
from symbp.data.read_numpy import check_real_numbers, open_numpy_file
from symbp.errors import UserError

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["PARTITION_BYTES", "Partitions", "partition", "read_data"]

#: Default partition size when the caller gives no count: large enough that the
#: per-task overhead (a few ms) is small, small enough to spread over workers.
PARTITION_BYTES = 64 * 2**20

_EXPECTED = "a header row of column names and rows of numbers (.csv), or a 2-D numeric array (.npy)"


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
        x_peak: the largest |input|; y_low, y_high: the smallest and largest target
            (the extremes :func:`symbp.training.fit.check_ranges` checks, as for local data).

    Example:
        >>> parts = partition(X, y, 4, client=client)     # doctest: +SKIP
        >>> parts.n, parts.sizes                          # doctest: +SKIP
        (240, (60, 60, 60, 60))
    """

    client: Client
    futures: tuple[Future, ...]
    sizes: tuple[int, ...]
    p: int
    d: int
    y_ndim: int
    source: str
    x_peak: float = 0.0
    y_low: float = 0.0
    y_high: float = 0.0

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
    require_dask()
    client = client if client is not None else current_client()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise data_error(f"{source}: inputs have shape {X.shape}; expected (n, p), one row per sample")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise data_error(f"{source}: targets have shape {y.shape} for {X.shape[0]} samples; expected ({X.shape[0]},) or ({X.shape[0]}, d)")
    sizes = _split_sizes(X.shape[0], n_partitions, source)
    bounds = np.cumsum((0, *sizes))
    futures = [
        client.submit(pack, X[a:b].copy(), y[a:b].copy(), pure=False)
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

    Example:
        >>> parts = read_data(client, "runs.csv", target="y")   # doctest: +SKIP
    """
    require_dask()
    source = os.fspath(path)
    file = Path(source)
    if not file.is_file():
        raise data_error(f"{source}: no such file; give the path of a .csv, .npy or .npz file")
    suffix = file.suffix.lower()
    if n_partitions is not None and (isinstance(n_partitions, bool) or not isinstance(n_partitions, int) or n_partitions < 1):
        raise UserError(f"n_partitions must be a positive integer, got {n_partitions!r}")
    if suffix == ".npz":
        data = load(file)
        count = n_partitions or _default_partitions(client, data.X.nbytes + data.y.nbytes)
        return partition(data.X, data.y, min(count, data.n), client=client, source=source)
    if suffix == ".csv":
        return _read_csv(client, file.resolve(), source, target, n_partitions)
    if suffix == ".npy":
        return _read_npy(client, file.resolve(), source, target, n_partitions)
    raise data_error(f"{source}: unknown file kind {file.suffix or '(no suffix)'!r}; allowed suffixes are {', '.join(SUFFIXES)}")


def _read_csv(client: Client, file: Path, source: str, target: Any, n_partitions: int | None) -> Partitions:
    import dask
    import dask.dataframe

    header_line, header = _csv_header(file, source)
    names = check_header(header, header_line, source)
    targets, single = csv_target_names(target, names, header_line, source)
    features = [name for name in names if name not in targets]
    if not features:
        raise data_error(f"{source}: no input column left after taking the target column(s) {targets}; the file needs at least one input column")
    size = file.stat().st_size
    count = n_partitions or _default_partitions(client, size)
    # Every column as text: the worker converts and can then say which cell is not a number.
    # dask reads the start of the file here (its sample) to check the columns.
    try:
        with dask.config.set({"dataframe.convert-string": False}):
            frame = dask.dataframe.read_csv(str(file), blocksize=max(1, math.ceil(size / count)), dtype=object, header=0, names=names, na_filter=False)
            parts = frame.to_delayed()
    except (ValueError, OSError) as err:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
        reason = str(err).strip().splitlines()[-1].removeprefix("Original Message: ") if str(err).strip() else type(err).__name__
        raise data_error(f"{source}: cannot read as CSV ({reason}); expected {expected_contents('.csv')}") from err
    futures = client.compute([dask.delayed(frame_to_arrays, pure=False)(part, features, targets, single) for part in parts])
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
            raise data_error(f"{source}: cannot read the header ({err}); expected {expected_contents('.csv')}") from err
    raise data_error(f"{source}: the file holds no header; expected {expected_contents('.csv')}")


def _read_npy(client: Client, file: Path, source: str, target: Any, n_partitions: int | None) -> Partitions:
    array = open_numpy_file(file, source, mmap_mode="r")  # reads the header only
    if not isinstance(array, np.ndarray):
        array.close()
        raise data_error(f"{source}: holds an .npz archive, not a single .npy array; rename it to .npz")
    check_real_numbers(array.dtype, source, "the array")
    if array.ndim != 2 or array.shape[0] == 0:
        raise data_error(f"{source}: holds an array of shape {array.shape}; expected a 2-D array (rows x columns) with at least one row")
    n, width = array.shape
    del array  # close the map
    cols, single = npy_target_columns(target, width, source)
    features = npy_feature_columns(cols, width, source)
    count = min(n, n_partitions or _default_partitions(client, n * width * 8))
    sizes = _split_sizes(n, count, source)
    bounds = np.cumsum((0, *sizes))
    futures = [
        client.submit(read_npy_rows, str(file), int(a), int(b), features, cols, single, pure=False)
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
    from distributed import wait

    pending = client.map(summarize, futures, pure=False)
    wait(pending)
    _raise_on_failed_block(pending, futures, source)
    summaries: list[Summary] = client.gather(pending)
    _raise_on_problem(summaries, futures, source, columns)
    filled = [s for s in summaries if s.n]
    d = filled[0].d
    if columns is not None:
        _check_targets_vary(filled, d, source, columns)
    kept = []
    for future, summary in zip(futures, summaries):
        if summary.n:
            kept.append((future, summary.n))
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
        x_peak=max(s.x_peak for s in filled),
        y_low=float(min(np.min(s.y_min) for s in filled)),
        y_high=float(max(np.max(s.y_max) for s in filled)),
    )


def _raise_on_failed_block(pending: list[Future], futures: list[Future], source: str) -> None:
    """A DataError for the first block, in row order, whose reading or summary raised on a worker."""
    from distributed import KilledWorker

    for k, future in enumerate(pending):
        if future.status == "error":
            err = future.exception()
            if isinstance(err, KilledWorker):
                raise err  # the cluster failed, not the data
            for each in futures:
                each.release()
            # A reader failed on a worker (pandas, numpy): any exception type can come back.
            reason = (str(err).strip().splitlines() or [""])[0]
            raise data_error(
                f"{source}: cannot read block {k + 1} of {len(futures)} ({type(err).__name__}: {reason}; "
                f"a line number here counts from the start of that block); expected {_EXPECTED}"
            ) from err


def _raise_on_problem(summaries: list[Summary], futures: list[Future], source: str, columns: _Columns | None) -> None:
    """A DataError for the first problem in row order, or for data without rows."""
    offset = 0
    for summary in summaries:
        if summary.problem is not None:
            for future in futures:
                future.release()
            raise data_error(_describe(summary.problem, offset, source, columns))
        offset += summary.n
    if offset == 0:
        raise data_error(f"{source}: there are no samples (n = 0); expected at least one row")


def _check_targets_vary(filled: list[Summary], d: int, source: str, columns: _Columns) -> None:
    """A DataError for a target column whose minimum over all partitions equals its maximum."""
    low = np.min([s.y_min for s in filled], axis=0)
    high = np.max([s.y_max for s in filled], axis=0)
    for k in range(d):
        if low[k] == high[k]:
            where = "the target" if d == 1 else f"target column {columns.targets[k]!r}"
            raise data_error(constant_target_message(f"{source}: {where}", low[k]))


def _describe(problem: Problem, offset: int, source: str, columns: _Columns | None) -> str:
    """One line for a problem found in a partition whose first row is row ``offset`` of the data."""
    if problem.kind is ProblemKind.UNREADABLE:
        return f"{source}: cannot read the data ({problem.text}); expected {_EXPECTED}"
    row = offset + problem.row
    if columns is not None:
        place = columns.place(problem.what, row, problem.column)
    else:
        place = f"row {row} (0-based)"
    if problem.kind is ProblemKind.NOT_A_NUMBER:
        return f"{source}: {place}: {problem.text!r} is not a number; expected a number in every cell (missing values are not supported)"
    return f"{source}: {problem.what} contain {problem.text} at {place}; expected finite numbers (remove or fill in NaN and infinite values)"


def _split_sizes(n: int, n_partitions: int | Sequence[int], source: str) -> tuple[int, ...]:
    if isinstance(n_partitions, (int, np.integer)) and not isinstance(n_partitions, bool):
        count = int(n_partitions)
        if not 1 <= count <= max(n, 1):
            raise data_error(f"{source}: cannot split {n} rows into {count} partitions; choose between 1 and {n}")
        return tuple(int(len(rows)) for rows in np.array_split(np.arange(n), count))
    try:
        sizes = tuple(int(size) for size in n_partitions)
    except (TypeError, ValueError):
        raise UserError(f"n_partitions must be a count or a list of partition sizes, got {n_partitions!r}") from None
    if not sizes or min(sizes) < 1 or sum(sizes) != n:
        raise data_error(f"{source}: partition sizes {list(sizes)} do not split the {n} rows; give positive sizes that add up to {n}")
    return sizes


# Named as a private helper because train_on_cluster (symbp.cluster.objective) calls it by this name.
def _default_partitions(client: Client, nbytes: int) -> int:
    """One partition per PARTITION_BYTES of data, and at least one per worker thread."""
    threads = sum(client.nthreads().values()) or 1
    return max(threads, math.ceil(nbytes / PARTITION_BYTES))
