"""Fixtures of the cluster stage's tests: one local cluster, one kernel and one data set for the whole folder.

The cluster is two single-threaded worker processes on 127.0.0.1, started once
(a few seconds) for every test module here.  The reference everywhere is the
same kernel run in this process on all the data.
"""

from __future__ import annotations

import numpy as np
import pytest

import symbp
from symbp import cluster

P = 3
SIZES = (97, 13, 1, 129)  # uneven, one of a single row


@pytest.fixture(scope="package")
def client():
    with cluster.connect(None) as client:
        yield client


@pytest.fixture(scope="package")
def kernel_path(tmp_path_factory):
    return symbp.emit(symbp.derive(hidden=4, sigma="tanh", inputs=P), tmp_path_factory.mktemp("kernel"))


@pytest.fixture(scope="package")
def kernel(kernel_path):
    """The kernel loaded in this process; ``kernel.P`` is the data's number of inputs."""
    return symbp.load_kernel(kernel_path)


@pytest.fixture(scope="package")
def sizes():
    """The rows of each partition of ``parts``."""
    return list(SIZES)


@pytest.fixture(scope="package")
def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((sum(SIZES), P))
    y = np.sin(X @ np.array([1.0, -2.0, 0.5])) + 0.1 * rng.standard_normal(sum(SIZES))
    return X, y


@pytest.fixture(scope="package")
def parts(client, data):
    parts = cluster.partition(*data, list(SIZES), client=client)
    yield parts
    parts.release()
