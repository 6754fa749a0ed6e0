"""Reading NumPy files into a :class:`Dataset`: one 2-D array (``.npy``) or arrays X and y (``.npz``).

Nothing is unpickled (``allow_pickle=False``).  Messages count rows and
columns from 0, as NumPy does.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from symbp.data.columns import check_not_constant, inputs_and_targets, npy_feature_columns, npy_target_columns
from symbp.data.dataset import Dataset
from symbp.data.messages import data_error, expected_contents, quote_list

__all__ = ["check_real_numbers", "load_npy", "load_npz", "open_numpy_file"]

# What np.load raises for a file that is not what its suffix says.
_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def load_npy(file: Path, source: str, target: str | Sequence[str] | None, check_targets: bool = True) -> Dataset:
    """Read a ``.npy`` file holding one 2-D numeric array.

    Args:
        file: The file.
        source: Its name as the user gave it, for messages.
        target: A column index as digits (default the last column), or a
            sequence of them.

    Returns:
        The dataset; inputs are named ``x1..xp``, the target ``y`` (``y1..yd`` for several).

    Raises:
        DataError: The file is not a 2-D array of real, finite numbers with at
            least one row, or the target is unusable or constant.

    Example:
        >>> load_npy(Path("d.npy"), "d.npy", "0").target_names   # doctest: +SKIP
        ('y',)
    """
    loaded = open_numpy_file(file, source)
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise data_error(f"{source}: holds an .npz archive, not a single .npy array; rename it to .npz")
    array = _real_numbers(loaded, source, "the array")
    if array.ndim != 2:
        raise data_error(
            f"{source}: holds a {array.ndim}-D array of shape {array.shape}; "
            "expected a 2-D array (rows x columns) with the target in one column"
        )
    n, width = array.shape
    if n == 0:
        raise data_error(f"{source}: the array has no rows (shape {array.shape}); expected at least one row")
    _check_finite(array, source, "the array")

    cols, single = npy_target_columns(target, width, source)
    feature_cols = npy_feature_columns(cols, width, source)
    for col in cols if check_targets else []:
        check_not_constant(array[:, col], f"{source}, target column {col} (counting from 0)")
    X, y = inputs_and_targets(array, feature_cols, cols, single)
    return Dataset(
        X=X,
        y=y,
        feature_names=tuple(f"x{k + 1}" for k in range(len(feature_cols))),
        target_names=("y",) if single else tuple(f"y{k + 1}" for k in range(len(cols))),
        source=source,
    )


def load_npy_inputs(file: Path, source: str) -> Dataset:
    """Read a ``.npy`` 2-D array whose every column is an input (data to predict for); y has no columns."""
    loaded = open_numpy_file(file, source)
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise data_error(f"{source}: holds an .npz archive, not a single .npy array; rename it to .npz")
    array = _real_numbers(loaded, source, "the array")
    if array.ndim != 2 or array.shape[0] == 0:
        raise data_error(f"{source}: holds an array of shape {array.shape}; expected a 2-D array (rows x columns) with at least one row")
    _check_finite(array, source, "the array")
    X = np.ascontiguousarray(array)
    return Dataset(X=X, y=np.zeros((X.shape[0], 0)), feature_names=tuple(f"x{k + 1}" for k in range(X.shape[1])), target_names=(), source=source)


def load_npz(file: Path, source: str, check_targets: bool = True) -> Dataset:
    """Read a ``.npz`` archive holding arrays ``X`` (n, p) and ``y`` (n,) or (n, d).

    Args:
        file: The file.
        source: Its name as the user gave it, for messages.

    Returns:
        The dataset; inputs are named ``x1..xp``, the target ``y`` (``y1..yd`` for several).

    Raises:
        DataError: An array is missing, unreadable, of the wrong shape, not
            real finite numbers, or a target is constant.

    Example:
        >>> load_npz(Path("d.npz"), "d.npz").X.shape   # doctest: +SKIP
        (100, 3)
    """
    X, y = _npz_arrays(file, source)
    if X.ndim != 2:
        raise data_error(f"{source}: array 'X' is {X.ndim}-D with shape {X.shape}; expected 2-D (n, p)")
    if y.ndim not in (1, 2):
        raise data_error(f"{source}: array 'y' is {y.ndim}-D with shape {y.shape}; expected (n,) or (n, d)")
    if X.shape[0] != y.shape[0]:
        raise data_error(
            f"{source}: 'X' has {X.shape[0]} rows but 'y' has {y.shape[0]}; expected one target row per input row"
        )
    if X.shape[0] == 0:
        raise data_error(f"{source}: the arrays have no rows; expected at least one row")
    if X.shape[1] == 0:
        raise data_error(f"{source}: array 'X' has no columns (shape {X.shape}); expected at least one input column")
    if y.ndim == 2 and y.shape[1] == 0:
        raise data_error(f"{source}: array 'y' has no columns (shape {y.shape}); expected at least one target column")
    _check_finite(X, source, "array 'X'")
    _check_finite(y, source, "array 'y'")
    if y.ndim == 1:
        if check_targets:
            check_not_constant(y, f"{source}, array 'y'")
        target_names: tuple[str, ...] = ("y",)
    else:
        for col in range(y.shape[1] if check_targets else 0):
            check_not_constant(y[:, col], f"{source}, array 'y' column {col} (counting from 0)")
        target_names = tuple(f"y{k + 1}" for k in range(y.shape[1]))
    return Dataset(
        X=np.ascontiguousarray(X),
        y=np.ascontiguousarray(y),
        feature_names=tuple(f"x{k + 1}" for k in range(X.shape[1])),
        target_names=target_names,
        source=source,
    )


def _npz_arrays(file: Path, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays X and y of the archive as float64, with their shapes not yet checked."""
    loaded = open_numpy_file(file, source)
    if isinstance(loaded, np.ndarray):
        raise data_error(f"{source}: holds a single .npy array, not an .npz archive; rename it to .npy")
    with loaded:
        present = sorted(loaded.files)
        missing = [key for key in ("X", "y") if key not in present]
        if missing:
            raise data_error(
                f"{source}: no array {' or '.join(repr(k) for k in missing)}; the archive holds "
                f"{quote_list(present) if present else 'no arrays'}, expected 'X' (n, p) and 'y' (n,) or (n, d)"
            )
        try:
            raw_X, raw_y = loaded["X"], loaded["y"]
        except _UNREADABLE as err:
            raise data_error(f"{source}: cannot read the arrays ({err}); save them with numpy.savez") from err
    return _real_numbers(raw_X, source, "array 'X'"), _real_numbers(raw_y, source, "array 'y'")


def open_numpy_file(file: Path, source: str, *, mmap_mode: str | None = None) -> np.ndarray | np.lib.npyio.NpzFile:
    """``np.load`` without pickles, turning an unreadable file into a DataError.

    Args:
        file: A ``.npy`` or ``.npz`` file; its suffix says what was expected.
        source: Its name as the user gave it, for messages.
        mmap_mode: ``"r"`` to map an array instead of reading it (only its header is read now).

    Returns:
        The array, or the archive (close it when done).

    Raises:
        DataError: NumPy cannot read the file.

    Example:
        >>> open_numpy_file(Path("d.npy"), "d.npy", mmap_mode="r").shape   # doctest: +SKIP
        (442, 11)
    """
    try:
        return np.load(file, mmap_mode=mmap_mode, allow_pickle=False)
    except _UNREADABLE as err:
        kind = file.suffix.lower()
        raise data_error(f"{source}: cannot read as {kind} ({err}); expected {expected_contents(kind)}") from err


def check_real_numbers(dtype: np.dtype, source: str, what: str) -> None:
    """Refuse an array whose dtype is not real numbers (booleans and integers count as numbers).

    Args:
        dtype: The array's dtype.
        source: The file name as the user gave it.
        what: The array, for the message (``"the array"``, ``"array 'X'"``).

    Raises:
        DataError: The dtype is text, complex, an object, ...

    Example:
        >>> check_real_numbers(np.dtype("int8"), "d.npy", "the array")
    """
    if dtype == np.bool_ or (np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)):
        return
    raise data_error(f"{source}: {what} has dtype {dtype}; expected real numbers (integer or float)")


def _real_numbers(array: np.ndarray, source: str, what: str) -> np.ndarray:
    """The array as float64, or DataError if its dtype is not real numbers."""
    check_real_numbers(array.dtype, source, what)
    return np.asarray(array, dtype=np.float64)


def _check_finite(array: np.ndarray, source: str, what: str) -> None:
    finite = np.isfinite(array)
    if finite.all():
        return
    index = tuple(int(k) for k in np.argwhere(~finite)[0])
    place = f"row {index[0]}" if len(index) == 1 else f"row {index[0]}, column {index[1]}"
    raise data_error(
        f"{source}: {what} at {place} (counting from 0) is {array[index]}; "
        "expected finite numbers (remove or fill in NaN and infinite values)"
    )
