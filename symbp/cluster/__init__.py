"""Scale-out on Dask: the runner's objective evaluated where the data's partitions live (Dask imported on use).

Modules: ``connect`` (the cluster), ``partitions`` (the data split by rows and
checked on the workers), ``standardize`` (statistics summed over partitions),
``worker`` (the plain functions that run on the workers) and ``objective``
(:class:`DaskObjective`, :func:`train_on_cluster`).
"""

from symbp.cluster.connect import connect
from symbp.cluster.objective import DaskObjective, train_on_cluster
from symbp.cluster.partitions import Partitions, partition, read_data
from symbp.cluster.standardize import standardize

__all__ = ["DaskObjective", "Partitions", "connect", "partition", "read_data", "standardize", "train_on_cluster"]
