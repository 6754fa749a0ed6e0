"""Per-column centring and scaling of training data (:class:`Standardizer`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbp.data.messages import data_error

__all__ = ["Standardizer"]


# eq=False for the same reason as Dataset: arrays compared with == have no single truth value.
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
            raise data_error("Standardizer.fit: the data has no rows; need at least one")
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
            raise data_error(
                f"{where}: data of shape {data.shape} does not fit a standardizer fitted on "
                f"{_columns_phrase(self.mean.shape)}; pass data with the same columns"
            )
        return data


def _as_float(X: np.ndarray, where: str) -> np.ndarray:
    data = np.asarray(X, dtype=np.float64)
    if data.ndim not in (1, 2):
        raise data_error(f"{where}: data of shape {data.shape}; expected (n,) or (n, p)")
    return data


def _columns_phrase(shape: tuple[int, ...]) -> str:
    return "a single column (n,)" if shape == () else f"{shape[0]} columns"
