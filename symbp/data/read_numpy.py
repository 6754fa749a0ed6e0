"""Reading NumPy files into a :class:`Dataset`: one 2-D array (``.npy``) or arrays X and y (``.npz``).

Nothing is unpickled (``allow_pickle=False``).  Messages count rows and
columns from 0, as NumPy does.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from symbp.data.columns import check_not_constant, inputs_and_targets, npy_feature_columns, npy_target_columns
from symbp.data.dataset import Dataset
from symbp.data.messages import data_error, expected_contents, quote_list
from symbp.errors import DataError, UserError
from symbp.limits import check_declared_size

__all__ = ["check_declared_arrays", "check_npy_shape", "check_real_numbers", "not_finite_message", "load_npy", "load_npz", "open_numpy_file", "read_npz_arrays"]

#: Most arrays an .npz archive of symbp's may hold (a checkpoint of a deep network holds a few dozen).
MAX_MEMBERS = 1000

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
    check_npy_shape(array.shape, source)
    n, width = array.shape
    cols, single = npy_target_columns(target, width, source)
    feature_cols = npy_feature_columns(cols, width, source)
    _check_finite(array, source, "the array")
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
    check_declared_arrays(file, source)
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


def check_npy_shape(shape: tuple[int, ...], source: str) -> None:
    """Refuse an .npy array that is not 2-D with at least one row (here and on a cluster alike).

    Example:
        >>> check_npy_shape((3, 2), "d.npy")
    """
    if len(shape) != 2:
        raise data_error(
            f"{source}: holds a {len(shape)}-D array of shape {shape}; "
            "expected a 2-D array (rows x columns) with the target in one column"
        )
    if shape[0] == 0:
        raise data_error(f"{source}: the array has no rows (shape {shape}); expected at least one row")


def not_finite_message(source: str, what: str, index: tuple[int, ...], value: object) -> str:
    """The message for a value that is not finite, at ``index`` (counting from 0) of ``what``.

    Example:
        >>> not_finite_message("d.npy", "the array", (3, 1), np.nan)
        'd.npy: the array at row 3, column 1 (counting from 0) is nan; expected finite numbers (remove or fill in NaN and infinite values)'
    """
    place = f"row {index[0]}" if len(index) == 1 else f"row {index[0]}, column {index[1]}"
    return f"{source}: {what} at {place} (counting from 0) is {value}; expected finite numbers (remove or fill in NaN and infinite values)"


def _check_finite(array: np.ndarray, source: str, what: str) -> None:
    finite = np.isfinite(array)
    if finite.all():
        return
    index = tuple(int(k) for k in np.argwhere(~finite)[0])
    raise data_error(not_finite_message(source, what, index, array[index]))


# --- sizes declared by a file, checked before anything is allocated --------------------------


def _declared(stream: BinaryIO, source: str, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy header declares (read without reading the data)."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version} is not read by symbp")
    except (SyntaxError, TypeError) as err:
        raise ValueError(f"{name}: {err}") from err
    if dtype.hasobject:
        raise data_error(f"{source}: {name} holds Python objects (dtype {dtype}); symbp reads numbers only and never unpickles")
    return tuple(int(size) for size in shape), dtype


def _check_size(shape: tuple[int, ...], dtype: np.dtype, stored: int, source: str, name: str) -> int:
    """The bytes of an array of this shape and dtype, as float64; refused when more than ``stored`` bytes hold it or more than memory allows."""
    count = math.prod(shape)
    if count * dtype.itemsize > stored:
        raise data_error(
            f"{source}: {name} declares shape {shape} of {dtype} ({count * dtype.itemsize} bytes), "
            f"but the file holds {stored} bytes for it; the file is damaged or forged"
        )
    return count * max(dtype.itemsize, 8)  # what it takes once converted to float64


def check_declared_arrays(file: Path, source: str) -> None:
    """Refuse an .npy or .npz file whose headers declare more data than it holds, or than memory allows.

    Only the headers are read (and an archive's directory): nothing is allocated for the data.

    Args:
        file: a ``.npy`` or ``.npz`` file (an archive is recognised by its content).
        source: its name as the user gave it.

    Raises:
        DataError: a header is unreadable, declares objects, or more bytes than stored.
        UserError: the arrays need more memory than the machine can give them.

    Example:
        >>> check_declared_arrays(Path("d.npy"), "d.npy")   # doctest: +SKIP
    """
    total = 0
    try:
        if not zipfile.is_zipfile(file):
            with open(file, "rb") as stream:
                shape, dtype = _declared(stream, source, "the array")
                total = _check_size(shape, dtype, file.stat().st_size - stream.tell(), source, "the array")
        else:
            with zipfile.ZipFile(file) as archive:
                members = archive.infolist()
                if len(members) > MAX_MEMBERS:
                    raise data_error(f"{source}: the archive holds {len(members)} files; symbp reads at most {MAX_MEMBERS}")
                for info in members:
                    name = f"array {info.filename.removesuffix('.npy')!r}"
                    with archive.open(info) as stream:
                        shape, dtype = _declared(stream, source, name)
                        total += _check_size(shape, dtype, info.file_size, source, name)
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as err:
        kind = file.suffix.lower() if file.suffix.lower() in (".npy", ".npz") else ".npz"
        raise data_error(f"{source}: cannot read as {kind} ({err}); expected {expected_contents(kind)}") from err
    check_declared_size(total, f"{source}: reading its arrays")


def read_npz_arrays(file: Path, source: str) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, after its declared sizes were checked; nothing is unpickled.

    Args:
        file: the archive.
        source: its name as the user gave it.

    Returns:
        The arrays by name.

    Raises:
        DataError: the file is not an archive of arrays symbp can read.
        UserError: the arrays need more memory than the machine can give them.

    Example:
        >>> read_npz_arrays(Path("run.checkpoint.npz"), "run.checkpoint.npz")["meta"]   # doctest: +SKIP
    """
    loaded = open_numpy_file(file, source)
    if isinstance(loaded, np.ndarray):
        raise data_error(f"{source}: holds a single .npy array, not an .npz archive")
    try:
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (*_UNREADABLE, UserError) as err:
        if isinstance(err, UserError):
            raise
        raise data_error(f"{source}: cannot read the arrays ({err})") from err
