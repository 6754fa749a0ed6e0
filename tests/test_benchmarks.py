"""Tests for benchmarks/: the suite runs, checks every peer, and reports missing or wrong peers.

They pass whether or not JAX, PyTorch and scikit-learn are installed: a missing
peer must show up as "missing (pip install -e '.[bench]')", never vanish.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import symbp
from benchmarks import run, suite
from benchmarks.cases import SIGMAS, SIZES, Case, Problem, Size, make_problem
from benchmarks.peers import INSTALL_HINT, PEERS, HandWrittenNumPy, Prepared, numpy_backprop, relative_difference
from benchmarks.measure import KERNEL, Check, PeerResult
from benchmarks.suite import run_case

ROOT = Path(__file__).resolve().parent.parent
TINY = Case(Size(64, 4, 3), "tanh")


@pytest.fixture(scope="module")
def kernel():
    return symbp.load_kernel(ROOT / "generated" / "tanh_identity_m3.py")


class AbsentPeer:
    """A peer whose library is not installed."""

    name = "absent"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        raise ImportError("No module named 'absent'")


class WrongPeer:
    """A peer whose loss is off by one."""

    name = "wrong"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        def call():
            R, grads = numpy_backprop(problem.params, problem.X, problem.y, case.sigma)
            return R + 1.0, grads

        return Prepared(call=call, result=call)


def test_hand_written_numpy_agrees_with_the_kernel(kernel) -> None:
    problem = make_problem(kernel, TINY.size)
    ours = kernel.loss_and_grad(problem.params, problem.X, problem.y)
    assert relative_difference(ours, numpy_backprop(problem.params, problem.X, problem.y, "tanh")) < 1e-12


def test_a_missing_peer_is_reported_and_a_wrong_one_is_not_timed(kernel) -> None:
    result = run_case(kernel, TINY, repeats=1, peers=(HandWrittenNumPy(), AbsentPeer(), WrongPeer()), isolate=False)
    assert [row.name for row in result.rows] == [KERNEL, "NumPy by hand", "absent", "wrong"]
    assert result.row("NumPy by hand").check is Check.OK and result.row("NumPy by hand").timing is not None
    absent = result.row("absent")
    assert absent.check is Check.MISSING and INSTALL_HINT in absent.note and absent.timing is None
    wrong = result.row("wrong")
    assert wrong.check is Check.MISMATCH and wrong.timing is None and wrong.difference > 1e-8


@pytest.mark.slow
def test_a_mismatch_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(suite, "PEERS", (HandWrittenNumPy(), WrongPeer()))
    out = tmp_path / "results.md"
    assert run.main(["--sizes", "small", "--repeats", "1", "--no-extras", "--in-process", "--out", str(out)]) == 1
    assert "FAILED" in out.read_text(encoding="utf-8")
    assert "disagrees with the kernel" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_smallest_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.md"
    assert run.main(["--sizes", "small", "--repeats", "2", "--quick", "--out", str(out)]) == 0
    report = out.read_text(encoding="utf-8")
    assert report in capsys.readouterr().out
    rows = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] == str(SIZES[0]):
            rows[cells[1], cells[2].strip("*")] = line
    for sigma in SIGMAS:
        assert (sigma, KERNEL) in rows
        for peer in PEERS:
            line = rows[sigma, peer.name]
            # Every peer was either checked against the kernel, reported missing, or is the floor (no gradient).
            assert "| ok (max rel. diff." in line or INSTALL_HINT in line or (peer.name == "floor" and "n/a" in line), line
        # Hand-written NumPy needs nothing beyond NumPy: its check must have run and passed.
        assert "| ok (max rel. diff." in rows[sigma, "NumPy by hand"]
    for target in ("kernel ÷ NumPy by hand ≤ 1.2", "peak extra memory", "training time", "first gradient"):
        assert target in report
    assert "## Start-up" in report and "## Training" in report and "CPU:" in report



def test_a_target_below_the_floor_says_so() -> None:
    from benchmarks.report import _ratio_target
    from benchmarks.suite import CaseResult, SuiteResult
    from benchmarks.timing import Timing

    def row(name: str, seconds: float) -> PeerResult:
        return PeerResult(name, Check.NOT_A_GRADIENT if name == "floor" else Check.OK, 0.0, Timing(seconds, (seconds,), 1))

    size = SIZES[1]
    rows = (row(KERNEL, 0.010), row("JAX jit", 0.009), row("floor", 0.008))
    result = SuiteResult(sizes=(size,), repeats=1, isolated=False, cases=(CaseResult(Case(size, "tanh"), rows),), memory=None,
                         startup=None, training=None, load_before=(0.0, 0.0, 0.0), load_after=(0.0, 0.0, 0.0))
    target = _ratio_target(result, "JAX jit", 0.8, size)
    assert target.status == "NOT MET"
    assert "tanh asks for ≤ 7.20 ms, the floor alone takes 8.00 ms" in target.text
    met = _ratio_target(result, "floor", 1.3, size)
    assert met.status == "MET" and "asks for" not in met.text


@pytest.mark.parametrize(
    ("peer_timing", "why"),
    [
        ((0.0589, (0.0589, 0.00039, 0.06), 1), "spread"),  # the "0.00 MET": median 58.9 ms, best 0.39 ms
        ((0.020, (0.020, 0.021), 1, None, 0.35), "others' CPU 35%"),
        ((0.030, (0.030, 0.030, 0.018), 1), "median"),
    ],
)
def test_a_disturbed_row_never_counts_as_met(peer_timing, why) -> None:
    from benchmarks.report import _ratio_target
    from benchmarks.suite import CaseResult, SuiteResult
    from benchmarks.timing import Timing

    size = SIZES[0]
    rows = (PeerResult(KERNEL, Check.OK, 0.0, Timing(0.010, (0.010, 0.0101), 1)), PeerResult("PyTorch autograd", Check.OK, 0.0, Timing(*peer_timing)))
    result = SuiteResult(sizes=(size,), repeats=1, isolated=False, cases=(CaseResult(Case(size, "tanh"), rows),), memory=None,
                         startup=None, training=None, load_before=(0.0, 0.0, 0.0), load_after=(0.0, 0.0, 0.0))
    target = _ratio_target(result, "PyTorch autograd", 1.0, size)
    assert target.status == "NOT CHECKED" and "PyTorch autograd disturbed" in target.text and why in target.text


def test_ratios_have_two_significant_figures() -> None:
    from benchmarks.report import significant

    assert [significant(x) for x in (0.4612, 1.01, 0.0012345, 12.3)] == ["0.46", "1.0", "0.0012", "12"]


def test_rounds_pool_their_batches() -> None:
    from benchmarks.measure import pooled
    from benchmarks.timing import Timing

    slow_then_fast = [PeerResult("x", Check.OK, 1e-15, Timing(0.030, (0.030, 0.031), 10, 4.0, 0.01)),
                      PeerResult("x", Check.OK, 3e-15, Timing(0.010, (0.010, 0.011), 12, 2.0, 0.20))]
    row = pooled(slow_then_fast)
    assert row.timing.values == (0.030, 0.031, 0.010, 0.011) and row.timing.median == pytest.approx(0.0205)
    assert row.timing.faults_per_call == 3.0 and row.timing.others_cpu == 0.20 and row.difference == 3e-15
    missing = PeerResult("x", Check.MISSING, note="missing")
    assert pooled([slow_then_fast[0], missing]) is missing  # a row that was not timed stands for all


def test_a_disturbed_row_is_measured_again_until_it_is_quiet_or_the_retries_run_out() -> None:
    from benchmarks.suite import remeasured
    from benchmarks.timing import Timing

    noisy = PeerResult("x", Check.OK, 0.0, Timing(0.02, (0.01, 0.03), 1))  # spread 100 %
    quiet = PeerResult("x", Check.OK, 0.0, Timing(0.01, (0.01, 0.0101), 1))
    calls = []

    def again(key):
        calls.append(key)
        return noisy if len(calls) < 2 else quiet

    rows = remeasured({"x": noisy, "y": quiet}, again, retries=3)
    assert calls == ["x", "x"] and rows["x"].timing is quiet.timing and rows["x"].attempts == 3 and rows["y"] is quiet
    assert remeasured({"x": noisy}, lambda key: noisy, retries=2)["x"].attempts == 3  # still disturbed: reported so
    assert remeasured({"x": noisy}, lambda key: quiet, retries=0)["x"] is noisy


def test_the_faster_thread_count_is_reported_even_when_it_was_disturbed() -> None:
    from benchmarks.measure import fastest
    from benchmarks.report import _ratio_target, _threads_text
    from benchmarks.suite import CaseResult, SuiteResult
    from benchmarks.timing import Timing

    one = PeerResult("JAX jit", Check.OK, 0.0, Timing(0.020, (0.020, 0.0201), 1), threads=1)
    two = PeerResult("JAX jit", Check.OK, 0.0, Timing(0.012, (0.012, 0.0121), 1, None, 0.4), threads=2)  # disturbed
    best = fastest([one, two])
    assert best.threads == 2 and "1 thread: 20.000 ms" in _threads_text(best)
    size = SIZES[1]
    kernel = PeerResult(KERNEL, Check.OK, 0.0, Timing(0.009, (0.009, 0.0091), 1))
    result = SuiteResult(sizes=(size,), repeats=1, isolated=True, cases=(CaseResult(Case(size, "tanh"), (kernel, best)),), memory=None,
                         startup=None, training=None, load_before=(0.0, 0.0, 0.0), load_after=(0.0, 0.0, 0.0))
    # Against the slower, quiet 1-thread figure the target would be MET (0.45); against the faster one it is not judged.
    assert _ratio_target(result, "JAX jit", 0.8, size).status == "NOT CHECKED"
    missing = PeerResult("JAX jit", Check.MISSING, note="missing")
    assert fastest([one, missing]) is missing


def test_threads_are_set_for_every_library_in_the_workers_environment() -> None:
    from benchmarks.threads import TORCH_THREADS, environment

    single = environment(1)
    assert {single[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", TORCH_THREADS)} == {"1"}
    assert "intra_op_parallelism_threads=1" in single["XLA_FLAGS"]
    assert environment(2)["OPENBLAS_NUM_THREADS"] == "2"
    with pytest.raises(ValueError):
        environment(0)


def test_the_training_target_is_judged_only_on_a_quiet_machine() -> None:
    from benchmarks.report import training_target
    from benchmarks.training import Training, TrainingRun

    def training(ours: float, others: float | None) -> Training:
        return Training(442, 10, TrainingRun("symbp", ours, 1.0, 500), TrainingRun("sklearn", 1.0, 1.0, 500), others)

    assert training_target(training(0.3, 0.02)).status == "MET"
    assert training_target(training(0.4, 0.02)).status == "NOT MET"
    disturbed = training_target(training(0.3, 0.5))
    assert disturbed.status == "NOT CHECKED" and "others' CPU 50%" in disturbed.text
    assert training_target(training(0.3, None)).status == "NOT CHECKED"


def test_a_float32_run_checks_its_peers_in_float32_and_states_its_own_target(tmp_path: Path) -> None:
    """A float32 kernel's problem is float32, hand-written NumPy agrees to float32's 1e-4 (not float64's 1e-8), and
    the report's targets are the float32 kernel against JAX jit float32 at the two large sizes."""
    from benchmarks.peers import PEERS_FLOAT32, RTOL_FLOAT32
    from benchmarks.report import targets
    from benchmarks.suite import CaseResult, SuiteResult
    from benchmarks.timing import Timing

    k32 = symbp.load_kernel(symbp.emit(symbp.derive(hidden=3, dtype="float32"), tmp_path))
    problem = make_problem(k32, TINY.size)
    assert problem.X.dtype == problem.y.dtype == problem.params["b2"].dtype == "float32"
    result = run_case(k32, TINY, 1, (HandWrittenNumPy(), WrongPeer()), isolate=False)
    assert result.row("NumPy by hand").check is Check.OK and 1e-9 < result.row("NumPy by hand").difference <= RTOL_FLOAT32
    assert result.row("wrong").check is Check.MISMATCH
    assert "scikit-learn MLP" not in {p.name for p in PEERS_FLOAT32}

    def run_with(kernel_seconds: float, jax_seconds: float) -> list[str]:
        rows = tuple(PeerResult(name, Check.OK, 0.0, Timing(t, (t, t), 1)) for name, t in ((KERNEL, kernel_seconds), ("JAX jit", jax_seconds)))
        timed = SuiteResult(sizes=(SIZES[1],), repeats=1, isolated=False, cases=(CaseResult(Case(SIZES[1], "tanh"), rows),), memory=None,
                            startup=None, training=None, load_before=(0.0,) * 3, load_after=(0.0,) * 3, dtype="float32")
        return [t.line() for t in targets(timed)]

    met = run_with(0.010, 0.012)
    assert met[0] == "MET         float32 kernel ÷ JAX jit float32 ≤ 0.9 at (10 000, 100, 100): tanh 0.83"
    assert met[1].startswith("NOT CHECKED") and "(100 000, 50, 50): this size was not run" in met[1] and len(met) == 2
    assert run_with(0.010, 0.010)[0].startswith("NOT MET     float32 kernel ÷ JAX jit float32 ≤ 0.9 at (10 000, 100, 100): tanh 1.0")
