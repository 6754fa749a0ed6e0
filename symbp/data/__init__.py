"""The data stage: training data read from files, checked, and standardised (NumPy only, never SymPy)."""

from symbp.data.read import SUFFIXES, Dataset, Standardizer, diabetes, load

__all__ = ["SUFFIXES", "Dataset", "Standardizer", "diabetes", "load"]
