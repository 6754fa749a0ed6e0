"""Reading training data: :func:`load` picks the reader by the file's suffix; :func:`diabetes` is the shipped set.

The readers turn a file into a :class:`~symbp.data.dataset.Dataset` of float64
arrays, or raise :class:`~symbp.errors.DataError` with a one-line message that
names the file, the place in it (for CSV the 1-based line number and the
column) and what was expected.

The data stage knows nothing about SymPy or networks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

import numpy as np

from symbp.data.dataset import Dataset
from symbp.data.messages import data_error, expected_contents
from symbp.data.read_csv import load_csv, load_csv_inputs, parse_csv
from symbp.data.read_numpy import load_npy, load_npy_inputs, load_npz

__all__ = ["SUFFIXES", "diabetes", "load", "load_inputs"]

#: The file suffixes :func:`load` understands.
SUFFIXES: tuple[str, ...] = (".csv", ".npy", ".npz")


def load(path: str | os.PathLike[str], target: str | Sequence[str] | None = None, *, check_targets: bool = True,
         labels: bool | Sequence[str] = False) -> Dataset:
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
        check_targets: refuse a constant target, which a network cannot learn from (for
            training); data to evaluate a trained network on may have one.
        labels: a CSV's one target column holds class labels, one-hot encoded in sorted order
            (``Dataset.classes``); a sequence of classes: encoded with those (a trained classifier's).

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
    file = _checked_file(source)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return load_csv(file, source, target, check_targets, labels)
    if labels is not False:
        raise data_error(f"{source}: class labels are read from a CSV column; give a .csv file, or one-hot target columns")
    if suffix == ".npy":
        return load_npy(file, source, target, check_targets)
    return load_npz(file, source, check_targets)


def load_inputs(path: str | os.PathLike[str], target: str | Sequence[str] | None = None) -> Dataset:
    """Read the inputs of a data file, to predict for: the same formats as :func:`load`.

    A CSV's columns are all inputs unless ``target`` names the ones to leave out; a
    ``.npy`` array's likewise (``target`` as column indices); an ``.npz`` archive's
    ``X``.  The dataset's ``y`` has no columns.

    Raises:
        DataError: as :func:`load`, but no target is needed.
    """
    if Path(path).suffix.lower() == ".npz" or (target is not None and Path(path).suffix.lower() != ".csv"):
        data = load(path, target, check_targets=False)
        return Dataset(X=data.X, y=np.zeros((data.n, 0)), feature_names=data.feature_names, target_names=(), source=data.source)
    source = os.fspath(path)
    file = _checked_file(source)
    if file.suffix.lower() == ".npy":
        return load_npy_inputs(file, source)
    return load_csv_inputs(file, source, target)


def _checked_file(source: str) -> Path:
    """The file, or a DataError when it is missing, not a file, of an unknown kind or empty."""
    file = Path(source)
    if not file.exists():
        raise data_error(f"{source}: no such file; give the path of a {_suffix_list()} file")
    if not file.is_file():
        raise data_error(f"{source}: is not a regular file; give the path of a {_suffix_list()} file")
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise data_error(
            f"{source}: unknown file kind {file.suffix or '(no suffix)'!r}; "
            f"allowed suffixes are {_suffix_list()}"
        )
    if file.stat().st_size == 0:
        raise data_error(f"{source}: the file is empty; expected {expected_contents(suffix)}")
    return file


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
        return parse_csv(stream, "symbp/data/diabetes.csv", "y")


def _suffix_list() -> str:
    return ", ".join(SUFFIXES)
