"""Standardising the inputs where they live: the statistics of :class:`symbp.data.Standardizer`, summed over partitions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from symbp.cluster.partitions import Partitions
from symbp.cluster.worker import column_sums, scaled, squared_deviations
from symbp.data import Standardizer

__all__ = ["standardize"]


def standardize(partitions: Partitions) -> tuple[Partitions, Standardizer]:
    """Centre and scale the input columns, with statistics computed on the cluster.

    The statistics are those of :meth:`symbp.data.Standardizer.fit` on all rows
    (population standard deviation; scale 1 for a constant column), up to
    rounding in the last bits.  The standardised partitions are new tasks on
    the old ones, so they too can be rebuilt after a worker dies; release
    ``partitions`` only if you will not need the raw data again.

    Args:
        partitions: The data, from :func:`~symbp.cluster.partition` or
            :func:`~symbp.cluster.read_data`.

    Returns:
        The standardised partitions and the :class:`~symbp.data.Standardizer`
        (save its ``mean`` and ``scale`` with the parameters).

    Example:
        >>> scaled_parts, scaler = standardize(parts)     # doctest: +SKIP
        >>> scaler.transform(X_new)                       # doctest: +SKIP
    """
    client = partitions.client
    first = client.gather(client.map(column_sums, partitions.futures, pure=False))
    n = partitions.n
    mean = np.sum([s for s, _, _ in first], axis=0) / n  # in partition order
    constant = np.min([lo for _, lo, _ in first], axis=0) == np.max([hi for _, _, hi in first], axis=0)
    squares = client.gather(client.map(squared_deviations, partitions.futures, mean=mean, pure=False))
    scale = np.where(constant, 1.0, np.sqrt(np.sum(squares, axis=0) / n))
    scaler = Standardizer(mean=mean, scale=scale)
    futures = tuple(client.map(scaled, partitions.futures, mean=mean, scale=scale, pure=False))
    # The extremes stay those of the raw data: they are checked as the local path checks its data, before standardising.
    return replace(partitions, futures=futures), scaler
