"""Scale-out on Dask: the runner's objective evaluated where the data's partitions live (Dask imported on use)."""

from symbp.cluster.objective import DaskObjective, Partitions, connect, partition, read_data, standardize, train_on_cluster

__all__ = ["DaskObjective", "Partitions", "connect", "partition", "read_data", "standardize", "train_on_cluster"]
