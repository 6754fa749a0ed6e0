"""Reading training data: CSV, ``.npy`` and ``.npz`` files, and the shipped diabetes set.

The loaders turn a file into a :class:`Dataset` of float64 arrays, or raise
:class:`~symbp.errors.DataError` with a one-line message that names the file,
the place in it (for CSV the 1-based line number and the column) and what was
expected.  :class:`Standardizer` centres and scales columns for training.

This module is the data stage only: it knows nothing about SymPy or networks.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from symbp.errors import DataError, InternalError

__all__ = ["Dataset", "Standardizer", "diabetes", "load", "SUFFIXES"]

#: The file suffixes :func:`load` understands.
SUFFIXES: tuple[str, ...] = (".csv", ".npy", ".npz")

# Longest cell text quoted in a message; longer cells are cut with "...".
_MAX_QUOTE = 40


# eq=False: the generated __eq__ would compare arrays with ==, whose truth value
# is ambiguous; identity comparison is the honest default for array holders.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs and targets read from one file.

    Attributes:
        X: Inputs, shape ``(n, p)``, float64.
        y: Targets, shape ``(n,)`` for one target column or ``(n, d)`` when
            several target columns were chosen, float64.
        feature_names: The ``p`` input column names, in column order of ``X``.
        target_names: The target column names, in column order of ``y``.
        source: The file name as the user gave it, for messages.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    source: str

    @property
    def n(self) -> int:
        """Number of rows (examples)."""
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        """Number of input columns."""
        return int(self.X.shape[1])


# ---------------------------------------------------------------------------
# Public entry points


def load(path: str | os.PathLike[str], target: str | Sequence[str] | None = None) -> Dataset:
    """Read a data file into a :class:`Dataset`.

    Three formats are understood, chosen by the file suffix:

    * ``.csv``: comma separated, with a header row of unique column names.  The
      target column(s) are chosen by name and must be given; every other column
      is an input.
    * ``.npy``: one 2-D numeric array.  ``target`` is a column index written
      as digits (counting from 0, default the last column), or a sequence of
      them; the inputs are named ``x1..xp`` and the target ``y``.
    * ``.npz``: arrays ``X`` of shape ``(n, p)`` and ``y`` of shape ``(n,)``
      or ``(n, d)``; ``target`` is ignored.

    Args:
        path: The file to read.
        target: For CSV the name of the target column, or a sequence of names
            for several targets; for ``.npy`` a column index as a string of
            digits (or a sequence of them).  A single name gives ``y`` of shape
            ``(n,)``; two or more give ``(n, d)``.

    Returns:
        The dataset, with float64 arrays.

    Raises:
        DataError: The file is missing, empty, of an unknown kind or malformed;
            a cell is not a finite number; the target is missing or constant;
            or no input column is left.

    Example:
        >>> ds = load("runs.csv", target="y")          # doctest: +SKIP
        >>> ds.X.shape, ds.feature_names                 # doctest: +SKIP
        ((100, 2), ('a', 'b'))
    """
    source = os.fspath(path)
    file = Path(source)
    if not file.exists():
        raise _error(f"{source}: no such file; give the path of a {_suffix_list()} file")
    if not file.is_file():
        raise _error(f"{source}: is not a regular file; give the path of a {_suffix_list()} file")
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise _error(
            f"{source}: unknown file kind {file.suffix or '(no suffix)'!r}; "
            f"allowed suffixes are {_suffix_list()}"
        )
    if file.stat().st_size == 0:
        raise _error(f"{source}: the file is empty; expected {_expected(suffix)}")

    if suffix == ".csv":
        try:
            with open(file, encoding="utf-8-sig", newline="") as stream:
                return _load_csv(stream, source, target)
        except UnicodeDecodeError as err:
            raise _error(f"{source}: is not UTF-8 text ({err.reason}); save the CSV as UTF-8") from err
    if suffix == ".npy":
        return _load_npy(file, source, target)
    return _load_npz(file, source)


def diabetes() -> Dataset:
    """The diabetes data of Efron, Hastie, Johnstone and Tibshirani (2004).

    442 patients, ten baseline inputs (``age, sex, bmi, bp, s1..s6``) in their
    raw units and the target ``y``, disease progression one year after
    baseline.  See ``symbp/data/README.md`` for source and terms.

    Returns:
        The dataset: ``X`` of shape ``(442, 10)``, ``y`` of shape ``(442,)``.

    Example:
        >>> ds = diabetes()
        >>> ds.X.shape, ds.target_names
        ((442, 10), ('y',))
    """
    resource = files("symbp") / "data" / "diabetes.csv"
    with resource.open("r", encoding="utf-8", newline="") as stream:
        return _load_csv(stream, "symbp/data/diabetes.csv", "y")


# eq=False for the same reason as Dataset.
@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-column centring and scaling: ``(X - mean) / scale``.

    Attributes:
        mean: Column means of the data it was fitted on.
        scale: Column standard deviations; 1 for constant columns, so that they
            become 0 instead of dividing by zero.

    Example:
        >>> s = Standardizer.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
        >>> s.transform(np.array([[1.0, 5.0], [3.0, 5.0]]))
        array([[-1.,  0.],
               [ 1.,  0.]])
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Learn column means and standard deviations.

        Args:
            X: Data of shape ``(n, p)`` (or ``(n,)`` for a single column), n >= 1.

        Returns:
            A standardizer whose :meth:`transform` gives mean-0, std-1 columns
            on ``X`` (constant columns become all 0).
        """
        data = _as_float(X, "Standardizer.fit")
        if data.shape[0] == 0:
            raise _error("Standardizer.fit: the data has no rows; need at least one")
        mean = data.mean(axis=0)
        scale = data.std(axis=0)
        # Compare the range, not the std, with 0: a constant column of 0.1s has
        # a std of about 1e-17 from rounding, which must not become the scale.
        constant = np.ptp(data, axis=0) == 0
        scale = np.where(constant, 1.0, scale)
        return cls(mean=np.asarray(mean, dtype=np.float64), scale=np.asarray(scale, dtype=np.float64))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Centre and scale ``X`` with the fitted statistics.

        Args:
            X: Data with the same number of columns as the fitted data.

        Returns:
            ``(X - mean) / scale`` as a new float64 array.
        """
        data = self._check(X, "Standardizer.transform")
        return (data - self.mean) / self.scale

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`: ``Z * scale + mean`` (e.g. to report predictions in data units).

        Args:
            Z: Standardised data with the fitted number of columns.

        Returns:
            The data in original units, as a new float64 array.
        """
        data = self._check(Z, "Standardizer.inverse_transform")
        return data * self.scale + self.mean

    def _check(self, X: np.ndarray, where: str) -> np.ndarray:
        data = _as_float(X, where)
        if data.shape[1:] != self.mean.shape:
            raise _error(
                f"{where}: data of shape {data.shape} does not fit a standardizer fitted on "
                f"{_columns_phrase(self.mean.shape)}; pass data with the same columns"
            )
        return data


# ---------------------------------------------------------------------------
# CSV


def _load_csv(stream: Iterable[str], source: str, target: str | Sequence[str] | None) -> Dataset:
    """Parse an open CSV text stream (opened with ``newline=""``)."""
    header, header_line, rows, lines = _read_csv_rows(stream, source)
    names = _check_header(header, header_line, source)
    target_names, single = _csv_targets(target, names, header_line, source)
    target_cols = [names.index(t) for t in target_names]
    feature_cols = [j for j in range(len(names)) if j not in target_cols]
    if not feature_cols:
        raise _error(
            f"{source} line {header_line}: no feature columns left after taking the target "
            f"{_quote_list(target_names)}; the file needs at least one input column besides the target"
        )
    if not rows:
        raise _error(
            f"{source}: only a header on line {header_line} and no data rows; "
            "expected at least one row of numbers below it"
        )

    width = len(names)
    bad = next((i for i, row in enumerate(rows) if len(row) != width), None)
    if bad is not None:
        raise _error(
            f"{source} line {lines[bad]}: found {len(rows[bad])} fields, expected {width} "
            f"(one per header column); check for missing or extra commas"
        )

    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as err:
        i, j = _first_bad_cell(rows)
        cell = rows[i][j]
        what = "empty cell" if not cell.strip() else f"non-numeric cell {_quote(cell)}"
        raise _error(
            f"{source} line {lines[i]}, column {j + 1} {_quote(names[j])}: {what}; "
            "expected a number (missing values are not supported)"
        ) from err

    finite = np.isfinite(table)
    if not finite.all():
        i, j = (int(k) for k in np.argwhere(~finite)[0])
        raise _error(
            f"{source} line {lines[i]}, column {j + 1} {_quote(names[j])}: cell {_quote(rows[i][j].strip())} "
            "is not a finite number; expected a finite number (remove or fill in NaN and infinite values)"
        )

    for name, col in zip(target_names, target_cols):
        _check_not_constant(table[:, col], f"{source}, target column {_quote(name)}")

    X = np.ascontiguousarray(table[:, feature_cols])
    y = table[:, target_cols[0]].copy() if single else np.ascontiguousarray(table[:, target_cols])
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(names[j] for j in feature_cols),
        target_names=tuple(target_names),
        source=source,
    )


def _read_csv_rows(
    stream: Iterable[str], source: str
) -> tuple[list[str], int, list[list[str]], list[int]]:
    """Split the stream into header, header line, data rows and their 1-based start lines."""
    reader = csv.reader(stream)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    previous = 0
    try:
        for row in reader:
            start = previous + 1
            previous = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line, e.g. a trailing one
            if header is None:
                header, header_line = row, start
            else:
                rows.append(row)
                lines.append(start)
    except csv.Error as err:
        raise _error(f"{source} line {reader.line_num}: malformed CSV ({err}); expected comma-separated fields") from err
    if header is None:
        raise _error(f"{source}: the file holds only blank lines; expected a header row and rows of numbers")
    return header, header_line, rows, lines


def _check_header(header: list[str], line: int, source: str) -> list[str]:
    """Strip the column names and reject empty or repeated ones."""
    names = [name.strip() for name in header]
    if len(names) == 1 and any(sep in names[0] for sep in (";", "\t")):
        raise _error(f"{source} line {line}: the header is one column {_quote(names[0])}; symbp reads comma-separated files: replace ';' or tabs with ','")
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if not name:
            raise _error(f"{source} line {line}, column {j + 1}: empty column name; every column needs a name")
        if name in seen:
            raise _error(
                f"{source} line {line}, column {j + 1}: duplicate column name {_quote(name)} "
                f"(also column {seen[name] + 1}); column names must be unique"
            )
        seen[name] = j
    return names


def _csv_targets(
    target: str | Sequence[str] | None, names: list[str], line: int, source: str
) -> tuple[list[str], bool]:
    """Resolve the target argument to column names; also say whether y is 1-D."""
    if target is None:
        raise _error(
            f"{source}: no target column chosen; pass --target NAME (target= in Python) "
            f"with one of the columns {_quote_list(names)}, or NAME1,NAME2 for several outputs"
        )
    wanted = [target] if isinstance(target, str) else list(target)
    if not wanted:
        raise _error(f"{source}: the list of target columns is empty; name at least one of {_quote_list(names)}")
    for name in wanted:
        if not isinstance(name, str):
            raise _error(f"{source}: target {name!r} is not a column name; name one of {_quote_list(names)}")
    wanted = [name.strip() for name in wanted]
    for name in wanted:
        if name not in names:
            raise _error(
                f"{source} line {line}: target column {_quote(name)} not found; "
                f"available columns are {_quote_list(names)}"
            )
    repeated = next((name for k, name in enumerate(wanted) if name in wanted[:k]), None)
    if repeated is not None:
        raise _error(f"{source}: target column {_quote(repeated)} is named twice; name each target once")
    return wanted, len(wanted) == 1


def _first_bad_cell(rows: list[list[str]]) -> tuple[int, int]:
    """Row and column index of the first cell numpy cannot turn into a float."""
    for i, row in enumerate(rows):
        try:
            np.array(row, dtype=np.float64)
        except ValueError:
            for j, cell in enumerate(row):
                try:
                    np.array(cell, dtype=np.float64)
                except ValueError:
                    return i, j
    raise InternalError("a CSV table failed to convert to floats but every cell converts on its own")


# ---------------------------------------------------------------------------
# NumPy files


def _load_npy(file: Path, source: str, target: str | Sequence[str] | None) -> Dataset:
    loaded = _np_load(file, source)
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise _error(f"{source}: holds an .npz archive, not a single .npy array; rename it to .npz")
    array = _numeric(loaded, source, "the array")
    if array.ndim != 2:
        raise _error(
            f"{source}: holds a {array.ndim}-D array of shape {array.shape}; "
            "expected a 2-D array (rows x columns) with the target in one column"
        )
    n, width = array.shape
    if n == 0:
        raise _error(f"{source}: the array has no rows (shape {array.shape}); expected at least one row")
    _check_finite(array, source, "the array")

    cols, single = _npy_targets(target, width, source)
    feature_cols = [j for j in range(width) if j not in cols]
    if not feature_cols:
        raise _error(
            f"{source}: no feature columns left after taking target column(s) {cols} of {width}; "
            "the array needs at least one input column besides the target"
        )
    for col in cols:
        _check_not_constant(array[:, col], f"{source}, target column {col} (counting from 0)")

    X = np.ascontiguousarray(array[:, feature_cols])
    y = array[:, cols[0]].copy() if single else np.ascontiguousarray(array[:, cols])
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(f"x{k + 1}" for k in range(len(feature_cols))),
        target_names=("y",) if single else tuple(f"y{k + 1}" for k in range(len(cols))),
        source=source,
    )


def _npy_targets(target: str | Sequence[str] | None, width: int, source: str) -> tuple[list[int], bool]:
    """Resolve the target argument to column indices; also say whether y is 1-D."""
    if target is None:
        return [width - 1], True
    wanted = [target] if isinstance(target, str) else list(target)
    if not wanted:
        raise _error(f"{source}: the list of target columns is empty; give at least one column index")
    cols: list[int] = []
    for item in wanted:
        text = item.strip() if isinstance(item, str) else ""
        if not (text.isascii() and text.isdigit()):
            raise _error(
                f"{source}: target {item!r} is not a column index; for .npy files give the target "
                f"column as digits, counting from 0 (0..{width - 1})"
            )
        col = int(text)
        if col >= width:
            raise _error(
                f"{source}: target column {col} is out of range; the array has {width} columns (0..{width - 1})"
            )
        if col in cols:
            raise _error(f"{source}: target column {col} is named twice; name each target once")
        cols.append(col)
    return cols, len(cols) == 1


def _load_npz(file: Path, source: str) -> Dataset:
    loaded = _np_load(file, source)
    if isinstance(loaded, np.ndarray):
        raise _error(f"{source}: holds a single .npy array, not an .npz archive; rename it to .npy")
    with loaded:
        present = sorted(loaded.files)
        missing = [key for key in ("X", "y") if key not in present]
        if missing:
            raise _error(
                f"{source}: no array {' or '.join(repr(k) for k in missing)}; the archive holds "
                f"{_quote_list(present) if present else 'no arrays'}, expected 'X' (n, p) and 'y' (n,) or (n, d)"
            )
        try:
            raw_X, raw_y = loaded["X"], loaded["y"]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise _error(f"{source}: cannot read the arrays ({err}); save them with numpy.savez") from err
    X = _numeric(raw_X, source, "array 'X'")
    y = _numeric(raw_y, source, "array 'y'")
    if X.ndim != 2:
        raise _error(f"{source}: array 'X' is {X.ndim}-D with shape {X.shape}; expected 2-D (n, p)")
    if y.ndim not in (1, 2):
        raise _error(f"{source}: array 'y' is {y.ndim}-D with shape {y.shape}; expected (n,) or (n, d)")
    if X.shape[0] != y.shape[0]:
        raise _error(
            f"{source}: 'X' has {X.shape[0]} rows but 'y' has {y.shape[0]}; expected one target row per input row"
        )
    if X.shape[0] == 0:
        raise _error(f"{source}: the arrays have no rows; expected at least one row")
    if X.shape[1] == 0:
        raise _error(f"{source}: array 'X' has no columns (shape {X.shape}); expected at least one input column")
    if y.ndim == 2 and y.shape[1] == 0:
        raise _error(f"{source}: array 'y' has no columns (shape {y.shape}); expected at least one target column")
    _check_finite(X, source, "array 'X'")
    _check_finite(y, source, "array 'y'")
    if y.ndim == 1:
        _check_not_constant(y, f"{source}, array 'y'")
        target_names: tuple[str, ...] = ("y",)
    else:
        for col in range(y.shape[1]):
            _check_not_constant(y[:, col], f"{source}, array 'y' column {col} (counting from 0)")
        target_names = tuple(f"y{k + 1}" for k in range(y.shape[1]))
    return Dataset(
        X=np.ascontiguousarray(X),
        y=np.ascontiguousarray(y),
        feature_names=tuple(f"x{k + 1}" for k in range(X.shape[1])),
        target_names=target_names,
        source=source,
    )


def _np_load(file: Path, source: str) -> np.ndarray | np.lib.npyio.NpzFile:
    """np.load without pickles, turning unreadable files into DataError."""
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        kind = file.suffix.lower()
        raise _error(f"{source}: cannot read as {kind} ({err}); expected {_expected(kind)}") from err


def _numeric(array: np.ndarray, source: str, what: str) -> np.ndarray:
    """The array as float64, or DataError if its dtype is not real numbers."""
    if array.dtype == np.bool_ or (
        np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)
    ):
        return np.asarray(array, dtype=np.float64)
    raise _error(f"{source}: {what} has dtype {array.dtype}; expected real numbers (integer or float)")


def _check_finite(array: np.ndarray, source: str, what: str) -> None:
    finite = np.isfinite(array)
    if finite.all():
        return
    index = tuple(int(k) for k in np.argwhere(~finite)[0])
    place = f"row {index[0]}" if len(index) == 1 else f"row {index[0]}, column {index[1]}"
    raise _error(
        f"{source}: {what} at {place} (counting from 0) is {array[index]}; "
        "expected finite numbers (remove or fill in NaN and infinite values)"
    )


# ---------------------------------------------------------------------------
# Shared checks and message helpers


def _check_not_constant(column: np.ndarray, where: str) -> None:
    if np.ptp(column) == 0:
        raise _error(
            f"{where}: the target is constant (every row is {column[0]:g}), so a network cannot learn "
            "anything from it; choose a target column whose values vary"
        )


def _as_float(X: np.ndarray, where: str) -> np.ndarray:
    data = np.asarray(X, dtype=np.float64)
    if data.ndim not in (1, 2):
        raise _error(f"{where}: data of shape {data.shape}; expected (n,) or (n, p)")
    return data


def _columns_phrase(shape: tuple[int, ...]) -> str:
    return "a single column (n,)" if shape == () else f"{shape[0]} columns"


def _expected(suffix: str) -> str:
    return {
        ".csv": "a header row of column names and rows of numbers",
        ".npy": "a 2-D numeric array saved with numpy.save",
        ".npz": "arrays 'X' and 'y' saved with numpy.savez",
    }[suffix]


def _suffix_list() -> str:
    return ", ".join(SUFFIXES)


def _quote(text: str) -> str:
    """repr() of the text, cut to a readable length; repr keeps newlines escaped."""
    if len(text) > _MAX_QUOTE:
        text = text[: _MAX_QUOTE - 3] + "..."
    return repr(text)


def _quote_list(names: Iterable[str]) -> str:
    return ", ".join(_quote(name) for name in names)


def _error(message: str) -> DataError:
    """A DataError whose message is guaranteed to be one line."""
    return DataError(message.replace("\r", "\\r").replace("\n", "\\n"))
