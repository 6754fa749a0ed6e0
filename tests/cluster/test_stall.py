"""A step that waits for ever is bounded: no worker for NO_WORKER_GRACE, or a stall while workers run it.

Dask's scheduler can lose track of a task that finished on a worker which had fetched its
partition from a worker that died meanwhile (the red-team case of a worker joining while another
is killed); the step's future then never completes.  These tests stand in fake futures for the
cluster's so that the waiting logic itself is exercised in milliseconds.
"""

from __future__ import annotations

import time

import pytest

from symbp.cluster import objective as module
from symbp.cluster.objective import DaskObjective
from symbp.training.objective import ObjectiveUnavailable


class Stuck:
    """A future whose result never arrives."""

    def result(self, timeout: float):
        time.sleep(timeout)
        raise TimeoutError


class Done:
    def __init__(self, value):
        self.value = value

    def result(self, timeout: float):
        return self.value


class FakeClient:
    def __init__(self, workers: int):
        self.workers, self.cancelled = workers, []

    def nthreads(self):
        return {f"w{k}": 1 for k in range(self.workers)}

    def cancel(self, futures):
        self.cancelled.append(futures)


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(module, "_LOOK_EVERY", 0.005)
    monkeypatch.setattr(module, "STALL_FLOOR", 0.05)
    monkeypatch.setattr(module, "NO_WORKER_GRACE", 0.05)


def objective_with(client: FakeClient, longest_step: float = 0.0) -> DaskObjective:
    objective = object.__new__(DaskObjective)
    objective.client, objective._longest_step = client, longest_step
    return objective


def test_a_stalled_step_is_submitted_once_more_and_then_completes(fast):
    client = FakeClient(workers=2)
    submissions = [[Done(1), Stuck()], [Done(1), Done(2)]]
    results = objective_with(client)._results(lambda: submissions.pop(0))
    assert results == [1, 2] and not submissions and len(client.cancelled) == 1


def test_a_step_that_stalls_twice_ends_the_run_with_one_line(fast):
    client = FakeClient(workers=2)
    started = time.monotonic()
    with pytest.raises(ObjectiveUnavailable, match=r"did not arrive within 0 s, twice, while it had workers"):
        objective_with(client)._results(lambda: [Done(1), Stuck()])
    assert len(client.cancelled) == 2 and time.monotonic() - started < 5


def test_the_stall_limit_grows_with_the_longest_step_so_far(fast):
    client = FakeClient(workers=1)

    class Slow:
        """Done after 0.3 s: longer than the floor, well within 20 × a 0.1 s step."""

        def __init__(self):
            self.ready = time.monotonic() + 0.3

        def result(self, timeout):
            if time.monotonic() >= self.ready:
                return 3
            time.sleep(timeout)
            raise TimeoutError

    assert objective_with(client, longest_step=0.1)._results(lambda: [Slow()]) == [3]
    assert not client.cancelled


def test_a_cluster_without_workers_ends_the_step_after_the_grace(fast):
    with pytest.raises(ObjectiveUnavailable, match="no worker left for 0.05 s"):
        objective_with(FakeClient(workers=0))._results(lambda: [Stuck()])
