"""Tests for benchmarks/dask_step.py: rounds judged as the kernel benchmark judges timings, disturbed pairs not counted."""

from __future__ import annotations

import time

from benchmarks.dask_step import Round, _more_rounds, checked_ratio, cpu_ratio


def a_round(who, seconds, steps=8, others=0.02, cpu=None):
    return Round(who, (seconds,) * steps, others, 0.0, seconds if cpu is None else cpu, 0.5)


def test_short_steps_are_timed_in_batches_of_at_least_20_ms():
    quick = Round("local C", (0.001,) * 99 + (0.5,), 0.0, 0.0, 0.001, 0.1)
    timing = quick.timing
    assert all(value >= 0.001 for value in timing.values) and len(timing.values) == 5
    assert abs(timing.median - 0.001) < 1e-12  # the one slow step is one batch of five, not the median


def test_the_ratio_counts_only_undisturbed_pairs():
    pairs = [(a_round("local C", 0.2), a_round("Dask", 0.1)),
             (a_round("local C", 0.2, others=0.6), a_round("Dask", 0.5))]  # the machine was busy: not counted
    ratio, how = checked_ratio(pairs)
    assert ratio == 0.5 and how == "median of 1 undisturbed pair(s) of 2"


def test_without_an_undisturbed_pair_the_ratio_is_not_checked_and_says_why():
    ratio, how = checked_ratio([(a_round("local C", 0.2, others=0.6), a_round("Dask", 0.3))])
    assert abs(ratio - 1.5) < 1e-12
    assert how.startswith("NOT CHECKED") and "others took 60%–60% of the CPUs (> 10%) in 1 of 2 rounds" in how


def test_cpu_seconds_are_compared_over_all_pairs():
    assert cpu_ratio([(a_round("local C", 0.2, cpu=0.2), a_round("Dask", 0.5, others=0.9, cpu=0.25))]) == 1.25


def test_disturbed_pairs_are_measured_again_while_the_budget_lasts():
    busy = (a_round("local C", 0.2, others=0.6), a_round("Dask", 0.3))
    clean = (a_round("local C", 0.2), a_round("Dask", 0.3))
    now = time.monotonic()
    assert _more_rounds([clean], 2, 0.0, now)  # fewer than asked for
    assert not _more_rounds([busy, clean], 2, 0.0, now)  # no budget: the rounds asked for, disturbed or not
    assert _more_rounds([busy, clean], 2, 60.0, now)
    assert not _more_rounds([busy, clean], 2, 60.0, now - 61)  # the budget spent
    assert not _more_rounds([clean, clean], 2, 60.0, now)
