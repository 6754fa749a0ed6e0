"""The data stage: training data read from files, checked, and standardised (NumPy only, never SymPy).

Modules: ``read`` (:func:`load` by suffix, :func:`diabetes`), ``read_csv`` and
``read_numpy`` (the formats), ``csv_table`` (the CSV parser, shared with the
cluster's workers), ``columns`` (header and target checks, shared with
the cluster's reader), ``dataset`` (:class:`Dataset`), ``standardize``
(:class:`Standardizer`), ``messages`` (one-line messages).
"""

from symbp.data.dataset import Dataset
from symbp.data.read import SUFFIXES, diabetes, load, load_inputs
from symbp.data.standardize import Standardizer

__all__ = ["SUFFIXES", "Dataset", "Standardizer", "diabetes", "load", "load_inputs"]
