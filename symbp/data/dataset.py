"""The value the data stage hands on: inputs and targets read from one file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset"]


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
        classes: For a column of class labels, the classes in the order of ``y``'s one-hot
            columns (see :mod:`symbp.data.labels`); empty otherwise.

    Example:
        >>> ds = Dataset(np.zeros((3, 2)), np.arange(3.0), ("a", "b"), ("y",), "d.csv")
        >>> ds.n, ds.p
        (3, 2)
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    source: str
    classes: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Number of rows (examples)."""
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        """Number of input columns."""
        return int(self.X.shape[1])
