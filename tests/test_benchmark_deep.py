"""Tests for benchmarks/deep.py: the report judges its target from undisturbed rows only, and the peers'
answers are compared with the kernel's (the timing itself is the benchmark's business, never a test's)."""

from __future__ import annotations

import numpy as np

from benchmarks.deep import IMPLEMENTATIONS, Row, agreement, layers, markdown
from benchmarks.measure import Check, PeerResult, fastest
from benchmarks.timing import Timing

LOAD = (0.1, 0.1, 0.1)


def timing(seconds: float, others: float = 0.0) -> Timing:
    return Timing(seconds, (seconds,) * 3, 10, None, others)


def row(depth: int, kernel: float, jax: float, others: float = 0.0) -> Row:
    results = {
        "kernel": PeerResult("kernel", Check.OK, timing=timing(kernel, others)),
        "JAX jit": PeerResult("JAX jit", Check.OK, timing=timing(jax), threads=1, others=f"2 threads: {1.5 * jax * 1e3:.3f} ms"),
        "PyTorch": PeerResult("PyTorch", Check.OK, timing=timing(2 * kernel), threads=2, others=f"1 thread: {3 * kernel * 1e3:.3f} ms"),
    }
    return Row(depth, results, {"JAX jit": 1e-14, "PyTorch": 1e-14})


def test_the_target_is_judged_on_undisturbed_rows_only() -> None:
    from benchmarks.processes import ROOT

    met = markdown([row(1, 0.010, 0.012), row(2, 0.020, 0.019, others=0.5)], "python benchmarks/deep.py", LOAD, LOAD, ROOT)
    assert "- MET: kernel ≤ 1.0 × JAX jit" in met and "others' CPU 50%" in met
    not_met = markdown([row(1, 0.010, 0.012), row(2, 0.020, 0.019)], "python benchmarks/deep.py", LOAD, LOAD, ROOT)
    assert "- NOT MET: kernel ≤ 1.0 × JAX jit" in not_met
    assert "| 2 | 20.00 | 19.00 (1 thread; 2 threads: 28.500 ms) | 40.00 (2 threads; 1 thread: 60.000 ms) | 1.1 | 0.50 | no |" in not_met
    # With every row disturbed nothing is judged: neither MET nor NOT MET.
    unjudged = markdown([row(1, 0.010, 0.012, others=0.5)], "python benchmarks/deep.py", LOAD, LOAD, ROOT)
    assert "- NOT CHECKED" in unjudged and "(0 of 1 undisturbed)" in unjudged


def test_each_peer_counts_with_its_faster_thread_count() -> None:
    from benchmarks.deep import _peer

    chosen = Row(1, {"JAX jit": fastest([PeerResult("JAX jit", Check.OK, timing=timing(t), threads=n) for n, t in ((1, 0.030), (2, 0.020))])}, {})
    assert _peer(chosen, "JAX jit") == "20.00 (2 threads; 1 thread: 30.000 ms)"


def test_agreement_is_the_largest_relative_difference(tmp_path) -> None:
    np.savez(tmp_path / "a.npz", R=np.float64(2.0), W1=np.array([[1.0, -4.0]]))
    np.savez(tmp_path / "b.npz", R=np.float64(2.0), W1=np.array([[1.0, -4.004]]))
    assert abs(agreement(str(tmp_path / "a.npz"), str(tmp_path / "b.npz")) - 1e-3) < 1e-12  # 0.004 of 4 in W1
    assert agreement(str(tmp_path / "a.npz"), str(tmp_path / "a.npz")) == 0.0


def test_layers_run_from_the_input_to_the_output() -> None:
    assert layers({}, 2) == [("W3", "b3"), ("W2", "b2"), ("W1", "b1")]
    assert IMPLEMENTATIONS[0] == "kernel"
