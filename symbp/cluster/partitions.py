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
from symbp.cluster.worker import Problem, ProblemKind, Summary, pack, read_csv_rows, read_npy_rows, summarize
from symbp.data import SUFFIXES, load
from symbp.data.columns import check_header, csv_feature_columns, csv_target_names, npy_feature_columns, npy_target_columns
from symbp.data.csv_table import TableProblem, TableProblemKind, malformed_message, problem_message, read_header
from symbp.data.messages import constant_target_message, data_error, quote
from symbp.data.read_numpy import check_npy_shape, check_real_numbers, not_finite_message, open_numpy_file
from symbp.errors import UserError

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["PARTITION_BYTES", "Partitions", "partition", "read_data"]

#: Default partition size when the caller gives no count: large enough that the
#: per-task overhead is small, small enough to spread over workers and to read in a
#: worker's memory.  Each task of a step costs the client and scheduler about 4.5 ms of CPU
#: (measured on 2 cores at n = 10⁶ × 20: 2 partitions 20 ms a step, 4 partitions 29 ms,
#: 8 partitions 51 ms), taken from the workers on a machine they share: 512 MiB makes data
#: up to that size one partition per worker thread.
PARTITION_BYTES = 512 * 2**20

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
        client.submit(pack, np.array(X[a:b], order="C"), y[a:b].copy(), pure=False, **where)
        for (a, b), where in zip(zip(bounds[:-1], bounds[1:]), _placements(client, len(sizes)))
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

    * ``.csv`` (header required, target column(s) by name): the client reads
      the header; each worker reads the lines that start in its block of bytes
      with the local reader's parser (:func:`symbp.data.csv_table.read_table`, called by
      :func:`symbp.cluster.worker.read_csv_rows`);
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
            64 MiB of data, rounded up to an equal number per worker thread.
            Partition k is made on worker thread k mod threads, so that every
            worker holds its share.

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
    header = read_header(file, source)
    header_line, data_start = header.line, header.data_start
    names = check_header(header.cells, header_line, source)
    targets, single = csv_target_names(target, names, header_line, source)
    target_cols = [names.index(name) for name in targets]
    features = csv_feature_columns(names, targets, header_line, source)
    size = file.stat().st_size
    count = max(1, min(n_partitions or _default_partitions(client, size), size - data_start))
    # Byte blocks of the data after the header; each worker reads the lines that start in its block.
    bounds = [data_start + (size - data_start) * k // count for k in range(count + 1)]
    futures = [
        client.submit(read_csv_rows, str(file), a, b, len(names), features, target_cols, single, pure=False, **where)
        for (a, b), where in zip(zip(bounds[:-1], bounds[1:]), _placements(client, count))
    ]
    columns = _Columns(tuple(names), tuple(quote(name) for name in targets), csv=True, file=file, starts=tuple(bounds[:-1]), header_line=header_line)
    return _checked(client, futures, source, p=len(features), y_ndim=1 if single else 2, columns=columns)


def _read_npy(client: Client, file: Path, source: str, target: Any, n_partitions: int | None) -> Partitions:
    array = open_numpy_file(file, source, mmap_mode="r")  # reads the header only
    if not isinstance(array, np.ndarray):
        array.close()
        raise data_error(f"{source}: holds an .npz archive, not a single .npy array; rename it to .npz")
    check_real_numbers(array.dtype, source, "the array")
    check_npy_shape(array.shape, source)
    n, width = array.shape
    del array  # close the map
    cols, single = npy_target_columns(target, width, source)
    features = npy_feature_columns(cols, width, source)
    count = min(n, n_partitions or _default_partitions(client, n * width * 8))
    sizes = _split_sizes(n, count, source)
    bounds = np.cumsum((0, *sizes))
    futures = [
        client.submit(read_npy_rows, str(file), int(a), int(b), features, cols, single, pure=False, **where)
        for (a, b), where in zip(zip(bounds[:-1], bounds[1:]), _placements(client, len(sizes)))
    ]
    columns = _Columns(tuple(map(str, range(width))), tuple(f"{col} (counting from 0)" for col in cols), csv=False)
    return _checked(client, futures, source, p=len(features), y_ndim=1 if single else 2, columns=columns)


@dataclass(frozen=True)
class _Columns:
    """How messages name the places of a data file: as :func:`symbp.data.load` names them."""

    names: tuple[str, ...]  # the file's columns (CSV names; .npy indices)
    targets: tuple[str, ...]  # the targets as the constant-target message names them
    csv: bool
    file: Path | None = None  # a CSV file, whose lines are counted for a message
    starts: tuple[int, ...] = ()  # the byte where each CSV block starts
    header_line: int = 0

    def line(self, block: int, line_in_block: int) -> int:
        """The file's line of a CSV block's line: the lines before the block counted (only for a message)."""
        start = self.starts[block]
        if start == 0:
            return line_in_block
        # The block's first line starts after the first newline at or after byte start - 1.
        before = 1
        with open(self.file, "rb") as stream:
            remaining = start - 1
            while remaining > 0:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                before += chunk.count(b"\n")
                remaining -= len(chunk)
        return before + line_in_block


def _checked(
    client: Client,
    futures: list[Future],
    source: str,
    *,
    p: int,
    y_ndim: int,
    columns: _Columns | None,
) -> Partitions:
    """Summarise every partition on the cluster; raise DataError on the first problem, as the local reader finds it.

    ``columns`` is given for files, whose targets must also not be constant.
    """
    from distributed import wait

    pending = client.map(summarize, futures, pure=False)
    wait(pending)
    _unpin(client, futures)
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


def _unpin(client: Client, futures: list[Future]) -> None:
    """Lift the placement of partitions now made (:func:`_placements`): one lost with its worker is rebuilt anywhere.

    A loose placement alone is not enough: Dask gives a task that waits for a worker (none was
    running when its worker died) to a worker that joins only if the placement allows that worker.
    """
    try:
        client.sync(client.scheduler.set_restrictions, worker={future.key: None for future in futures})
    except Exception:  # noqa: BLE001 - a scheduler without this call: the loose placement stays
        pass


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
            # A reader failed on a worker (numpy, the file system): any exception type can come back.
            reason = (str(err).strip().splitlines() or [""])[0]
            raise data_error(
                f"{source}: cannot read block {k + 1} of {len(futures)} ({type(err).__name__}: {reason}; "
                f"a line number here counts from the start of that block); expected {_EXPECTED}"
            ) from err


#: The order in which the local reader meets the problems of a file (the same kind: the first in the file).
_PRIORITY = {ProblemKind.UNREADABLE: 0, ProblemKind.NOT_UTF8: 0, ProblemKind.MALFORMED: 0, ProblemKind.FIELDS: 1,
             ProblemKind.NOT_A_NUMBER: 2, ProblemKind.NOT_FINITE: 3}


def _raise_on_problem(summaries: list[Summary], futures: list[Future], source: str, columns: _Columns | None) -> None:
    """A DataError for the problem the local reader would report, or for data without rows."""
    offsets = np.cumsum([0] + [s.n for s in summaries])
    found = [(_PRIORITY[s.problem.kind], k) for k, s in enumerate(summaries) if s.problem is not None]
    if found:
        for future in futures:
            future.release()
        _, block = min(found)
        raise data_error(_describe(summaries[block].problem, block, int(offsets[block]), source, columns))
    if offsets[-1] == 0:
        if columns is not None and columns.csv:
            raise data_error(f"{source}: only a header on line {columns.header_line} and no data rows; expected at least one row of numbers below it")
        raise data_error(f"{source}: there are no samples (n = 0); expected at least one row")


def _check_targets_vary(filled: list[Summary], d: int, source: str, columns: _Columns) -> None:
    """A DataError for a target column whose minimum over all partitions equals its maximum."""
    low = np.min([s.y_min for s in filled], axis=0)
    high = np.max([s.y_max for s in filled], axis=0)
    for k in range(d):
        if low[k] == high[k]:
            raise data_error(constant_target_message(f"{source}, target column {columns.targets[k]}: the target", low[k]))


def _describe(problem: Problem, block: int, offset: int, source: str, columns: _Columns | None) -> str:
    """One line for a problem found in a block whose first row is row ``offset`` of the data: the local reader's words."""
    if problem.kind is ProblemKind.UNREADABLE:
        return f"{source}: cannot read the data ({problem.text}); expected {_EXPECTED}"
    if columns is not None and columns.csv:
        if problem.kind is ProblemKind.NOT_UTF8:
            return f"{source}: is not UTF-8 text ({problem.text}); save the CSV as UTF-8"
        line = columns.line(block, problem.line)
        if problem.kind is ProblemKind.MALFORMED:
            return malformed_message(source, line, problem.text)
        kind = {ProblemKind.FIELDS: TableProblemKind.FIELDS, ProblemKind.NOT_A_NUMBER: TableProblemKind.NOT_A_NUMBER}.get(problem.kind, TableProblemKind.NOT_FINITE)
        table = TableProblem(kind, problem.row, problem.column, problem.text, found=problem.column)
        return problem_message(table, source, line, list(columns.names))
    if columns is not None:  # .npy: the whole rows, as load_npy checks them
        return not_finite_message(source, "the array", (offset + problem.row, problem.column), problem.text)
    row = offset + problem.row
    if problem.kind is ProblemKind.NOT_A_NUMBER:
        return f"{source}: row {row} (0-based): {problem.text!r} is not a number; expected a number in every cell (missing values are not supported)"
    return f"{source}: {problem.what} contain {problem.text} at row {row} (0-based); expected finite numbers (remove or fill in NaN and infinite values)"


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
    """One partition per PARTITION_BYTES of data, rounded up to an equal number for every worker thread.

    A step lasts as long as its busiest thread: 3 partitions on 2 single-threaded workers make one
    worker do two while the other waits (1.5 × the balanced time).
    """
    threads = sum(client.nthreads().values()) or 1
    return threads * max(1, math.ceil(math.ceil(nbytes / PARTITION_BYTES) / threads))


def _placements(client: Client, count: int) -> list[dict[str, Any]]:
    """Where each of ``count`` partitions is made: the worker threads in turn, so that each holds as many as the others.

    Dask would place the tasks by the load it sees as they arrive, which can leave one worker with
    more partitions than another, and then every step waits for it.  The placement is loose
    (``allow_other_workers``) and is lifted once the partitions are made (:func:`_unpin`): a
    partition whose worker died is rebuilt wherever there is room, as without it.
    """
    slots = [address for address, threads in sorted(client.nthreads().items()) for _ in range(threads)]
    if not slots:
        return [{} for _ in range(count)]  # no worker yet: Dask places the tasks when one comes
    # Partition k on slot k mod threads, the slots ordered by worker: with one thread each, k mod workers.
    return [{"workers": [slots[k % len(slots)]], "allow_other_workers": True} for k in range(count)]
