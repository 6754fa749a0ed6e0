"""Validation data held out of the training data: a seeded split of the rows."""

from __future__ import annotations

import numpy as np

from symbp.errors import DataError

__all__ = ["holdout"]


def holdout(X: np.ndarray, y: np.ndarray, fraction: float, seed: int, source: str = "the data") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of the rows of (X, y), chosen at random with ``seed``, as validation data.

    The rows are drawn with ``numpy.random.default_rng(seed).permutation``; each part keeps the
    order the rows had in the file.  The validation part has round(fraction · n) rows.

    Args:
        X: inputs (n, p); y: targets (n,) or (n, d).
        fraction: the share of rows held out, 0 < fraction < 1.
        seed: seeds the choice of rows (the run's ``--seed``).
        source: names the data in messages.

    Returns:
        X_train, y_train, X_validation, y_validation.

    Raises:
        DataError: a fraction outside (0, 1), or one that leaves a part without rows.

    Example:
        >>> X = np.arange(10.0)[:, None]
        >>> X_train, y_train, X_val, y_val = holdout(X, X[:, 0], 0.2, seed=0)
        >>> X_train.shape, X_val.shape
        ((8, 1), (2, 1))
    """
    if not 0 < fraction < 1:
        raise DataError(f"--validation must be a fraction between 0 and 1 (e.g. 0.2), not {fraction!r}")
    n = X.shape[0]
    held = round(fraction * n)
    if held < 1 or held > n - 1:
        raise DataError(
            f"--validation {fraction:g} of the {n} rows of {source} leaves {'no validation' if held < 1 else 'no training'} rows: "
            f"choose a fraction between {1 / n:.3g} and {1 - 1 / n:.3g}"
        )
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).permutation(n)[:held]] = True
    return X[~chosen], y[~chosen], X[chosen], y[chosen]
