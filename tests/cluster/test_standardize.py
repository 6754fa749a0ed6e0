"""Tests for symbp/cluster/standardize.py: the statistics summed over partitions are those of the Standardizer."""

from __future__ import annotations

import numpy as np

from symbp import cluster
from symbp.data import Standardizer
from tests.helpers import assert_grad_close, skip_without_dask

skip_without_dask()


def test_standardize_on_the_cluster_matches_the_standardizer(client, kernel_path, kernel, data, parts):
    X, y = data
    scaled, scaler = cluster.standardize(parts)
    try:
        reference = Standardizer.fit(X)
        np.testing.assert_allclose(scaler.mean, reference.mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(scaler.scale, reference.scale, rtol=1e-12)
        with cluster.DaskObjective(client, kernel_path, scaled) as objective:
            params = kernel.init_params(kernel.P, seed=0)
            assert_grad_close(objective(params, None), kernel.loss_and_grad(params, reference.transform(X), y), rtol=1e-10)
    finally:
        scaled.release()
