"""From results to text: machine information, the Markdown table, and each target as MET or NOT MET."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from dataclasses import dataclass

import numpy as np

from benchmarks.cases import SIZES, Size
from benchmarks.peers import PEERS, PEERS_FLOAT32, RTOL, RTOL_FLOAT32
from benchmarks.measure import KERNEL, KERNEL_COLD, Check, PeerResult
from benchmarks.suite import CaseResult, SuiteResult
from benchmarks.training import Training

from benchmarks.timing import DISTURBED_SHARE, MEDIAN_OVER_BEST, NOISY_SPREAD

#: symbp's training time may be at most this fraction of scikit-learn's (500 full-batch steps).
TRAINING_BOUND: float = 0.35

#: The distributions whose versions the report names.
VERSIONED: tuple[str, ...] = ("numpy", "sympy", "jax", "jaxlib", "torch", "scikit-learn", "scipy")


@dataclass(frozen=True)
class Target:
    """One target of the issue and how this run did against it.

    Attributes:
        status: "MET", "NOT MET", or "NOT CHECKED" (a peer missing, or the size not run).
        text: what the target is, with the figures.
    """

    status: str
    text: str

    def line(self) -> str:
        """``MET      kernel ÷ ... ≤ ...: figures``, aligned."""
        return f"{self.status:<11} {self.text}"


# --- machine ------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(distribution: str) -> str:
    """The installed version of a distribution, or "not installed"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def blas() -> str:
    """The BLAS that NumPy was built with, when NumPy says."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:  # an older NumPy without mode="dicts": the figure is decoration
        return "unknown"


def machine_lines(result: SuiteResult) -> list[str]:
    """Markdown bullet lines describing the machine, the software and the load."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in result.load_before) + " → " + ", ".join(f"{x:.2f}" for x in result.load_after)
    lines = [
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- CPU: {cpu_model()}; {cores} cores ({usable} usable by this process)",
        f"- load average (1, 5, 15 min) before → after the run: {load}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()} {platform.release()}",
        "- " + ", ".join(f"{name} {version(name)}" for name in VERSIONED),
        f"- NumPy's BLAS: {blas()}",
    ]
    return lines


# --- the table ----------------------------------------------------------------------


def _check_text(row: PeerResult | None) -> str:
    if row is None:
        return "not part of this run"
    if row.name == KERNEL:
        return "(the reference for the checks)"
    if row.name == KERNEL_COLD:
        return "diagnostic: the kernel where freed temporaries go back to the OS"
    if row.check is Check.OK:
        return f"ok (max rel. diff. {row.difference:.1e})"
    if row.check is Check.NOT_A_GRADIENT:
        return "n/a (not a gradient)"
    return f"{row.check.value}: {row.note}" if row.check is Check.MISMATCH else row.note.split(":")[0]


def table(result: SuiteResult) -> list[str]:
    """The Markdown table: one row per case and implementation."""
    lines = [
        "| (n, p, M) | σ | implementation | threads | median (ms) | best (ms) | spread | others' CPU | kernel ÷ it | page faults | check |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case_result in result.cases:
        case = case_result.case
        for row in case_result.rows:
            time_ms = f"{row.timing.median * 1e3:.3f}" if row.timing else "—"
            best_ms = f"{row.timing.best * 1e3:.3f}" if row.timing else "—"
            faults = f"{row.timing.faults_per_call:.0f}" if row.timing and row.timing.faults_per_call is not None else "—"
            others = f"{row.timing.others_cpu:.0%}" if row.timing and row.timing.others_cpu is not None else "—"
            spread = f"{row.timing.spread:.0%}" if row.timing else "—"
            ratio = case_result.ratio(row.name)
            ratio_text = significant(ratio) if ratio is not None else "—"
            name = f"**{row.name}**" if row.name == KERNEL else row.name
            lines.append(f"| {case.size} | {case.sigma} | {name} | {_threads_text(row)} | {time_ms} | {best_ms} | {spread} | {others} | {ratio_text} | {faults} | {_check_text(row)} |")
    timed = [row.timing for c in result.cases for row in c.rows if row.timing is not None]
    noisy = sum(t.disturbance() is not None for t in timed)
    if noisy:
        lines += ["", f"{noisy} of {len(timed)} rows are disturbed (spread over {NOISY_SPREAD:.0%}, other processes over "
                  f"{DISTURBED_SHARE:.0%} of the CPUs, or a median over {MEDIAN_OVER_BEST:g} × the best batch): no target is "
                  "judged by them; re-run on a quieter machine for firm figures."]
    return lines


def _threads_text(row: PeerResult) -> str:
    """The thread count the row was measured with, the other counts' medians, and any re-measurement."""
    text = "default" if row.threads is None else str(row.threads)
    if row.others:
        text += f" (faster than {row.others})"
    if row.attempts > 1:
        text += f"; measured {row.attempts}×"
    return text


def significant(ratio: float) -> str:
    """A ratio to two significant figures: 0.46, 1.0, 0.0012."""
    return f"{ratio:#.2g}".rstrip(".")


# --- targets ------------------------------------------------------------------------


def _ratio_target(result: SuiteResult, peer: str, bound: float, size: Size) -> Target:
    text = f"kernel ÷ {peer} ≤ {bound} at {size}"
    cases = [c for c in result.cases if c.case.size == size]
    if not cases:
        return Target("NOT CHECKED", f"{text}: this size was not run (--sizes all runs it)")
    figures, missing = [], []
    for c in cases:
        ratio = c.ratio(peer)
        if ratio is None:
            missing.append(f"{c.case.sigma}: {_check_text(c.row(peer))}")
            continue
        figures.append((c.case.sigma, ratio))
        for row in (c.row(KERNEL), c.row(peer)):
            why = row.timing.disturbance()
            if why is not None:  # a slowed peer makes a one-sided target easier: neither side may be disturbed
                missing.append(f"{c.case.sigma}: {row.name} disturbed ({why})")
    shown = ", ".join(f"{sigma} {significant(ratio)}" for sigma, ratio in figures)
    if missing:
        return Target("NOT CHECKED", f"{text}: {shown + '; ' if shown else ''}{'; '.join(missing)}")
    met = all(ratio <= bound for _, ratio in figures)
    return Target("MET" if met else "NOT MET", f"{text}: {shown}" + ("" if met else _below_floor(cases, peer, bound)))


def _below_floor(cases: list[CaseResult], peer: str, bound: float) -> str:
    """Where a ratio target asks for less time than the floor takes: the figures that show it cannot be met."""
    notes = []
    for c in cases:
        theirs, floor = c.row(peer), c.row("floor")
        ratio = c.ratio(peer)
        if peer == "floor" or ratio is None or ratio <= bound or not (theirs and theirs.timing and floor and floor.timing):
            continue
        wanted = bound * theirs.timing.median
        if wanted < floor.timing.median:
            notes.append(f"{c.case.sigma} asks for ≤ {wanted * 1e3:.2f} ms, the floor alone takes {floor.timing.median * 1e3:.2f} ms")
    return f" ({'; '.join(notes)})" if notes else ""


def targets(result: SuiteResult) -> list[Target]:
    """The issue's targets, each with this run's figures (a float32 run: its own, :func:`float32_targets`)."""
    if result.dtype == "float32":
        return float32_targets(result)
    small, large = SIZES[0], SIZES[1:]
    out = [_ratio_target(result, "JAX jit", 0.8, size) for size in large]
    out += [_ratio_target(result, "PyTorch autograd", 1.0, size) for size in SIZES]
    out += [_ratio_target(result, "scikit-learn MLP", 1.0, size) for size in SIZES]
    out += [_ratio_target(result, "floor", 1.15, size) for size in large]
    out.append(_ratio_target(result, "NumPy by hand", 1.2, small))
    if result.memory is not None:
        for m in result.memory:
            out.append(Target(
                "MET" if m.met else "NOT MET",
                f"peak extra memory of one loss_and_grad < n·M·8/4 at {m.size}, σ={m.sigma}: "
                f"{m.peak_bytes / 1e6:.2f} MB vs {m.budget_bytes / 1e6:.2f} MB",
            ))
    if result.training is not None:
        out.append(training_target(result.training))
    if result.startup is not None:
        loaded = [f.loader for f in result.startup.first_gradient if f.sympy_imported]
        out.append(Target(
            "NOT MET" if loaded else "MET",
            "first gradient from an existing kernel without importing SymPy: "
            + (f"sympy was imported via {', '.join(loaded)}" if loaded else "sympy not in sys.modules"),
        ))
    return out


def training_target(t: Training) -> Target:
    """symbp's training time ≤ :data:`TRAINING_BOUND` × scikit-learn's, judged only when the machine was quiet."""
    text = f"training time ≤ {TRAINING_BOUND} × scikit-learn's"
    if t.ratio is None or t.sklearn is None:
        return Target("NOT CHECKED", f"{text}: scikit-learn missing (pip install -e '.[bench]')")
    figures = f"{t.symbp.seconds * 1e3:.1f} ms vs {t.sklearn.seconds * 1e3:.1f} ms = {significant(t.ratio)}"
    if t.others_cpu is None or t.others_cpu > DISTURBED_SHARE:
        why = "others' CPU unknown" if t.others_cpu is None else f"others' CPU {t.others_cpu:.0%} > {DISTURBED_SHARE:.0%}"
        return Target("NOT CHECKED", f"{text}: {figures}; disturbed ({why})")
    return Target("MET" if t.ratio <= TRAINING_BOUND else "NOT MET", f"{text}: {figures}")


def float32_targets(result: SuiteResult) -> list[Target]:
    """A float32 run's target: the float32 kernel at most 0.9 × JAX jit's time in float32, at the two large sizes."""
    out = []
    for size in SIZES[1:]:
        target = _ratio_target(result, "JAX jit", 0.9, size)
        out.append(Target(target.status, "float32 " + target.text.replace("JAX jit", "JAX jit float32", 1)))
    return out


# --- the other figures --------------------------------------------------------------


def memory_section(result: SuiteResult) -> list[str]:
    """Peak extra memory, next to the budget."""
    if result.memory is None:
        return []
    lines = ["## Peak extra memory of one loss_and_grad (tracemalloc)", "",
             "| (n, p, M) | σ | peak (MB) | n·M·8/4 (MB) | one n × M array (MB) |", "|---|---|---:|---:|---:|"]
    for m in result.memory:
        lines.append(f"| {m.size} | {m.sigma} | {m.peak_bytes / 1e6:.2f} | {m.budget_bytes / 1e6:.2f} | {m.size.n * m.size.M * 8 / 1e6:.2f} |")
    return lines + [""]


def startup_section(result: SuiteResult) -> list[str]:
    """Start-up times from fresh processes."""
    s = result.startup
    if s is None:
        return []
    lines = ["## Start-up (fresh `python` processes, medians)", "",
             "| what | time (ms) | note |", "|---|---:|---|",
             f"| `python -c 'import numpy'` (for scale) | {s.bare_python_seconds * 1e3:.0f} | |"]
    for f in s.first_gradient:
        lines.append(f"| first gradient, kernel loaded with {f.loader} | {f.seconds * 1e3:.0f} | sympy imported: {'yes' if f.sympy_imported else 'no'} |")
    for d in s.derive_emit:
        lines.append(f"| derive + emit a new kernel, M = {d.M} | {d.derive_emit_seconds * 1e3:.0f} | whole process {d.process_seconds * 1e3:.0f} ms, of it `import symbp` {d.import_seconds * 1e3:.0f} ms |")
    if s.jax.missing:
        lines.append("| JAX import + compile | — | missing (pip install -e '.[bench]') |")
    else:
        compile_ms = (s.jax.first_call_seconds - s.jax.steady_call_seconds) * 1e3
        lines.append(f"| JAX `import jax` | {s.jax.import_seconds * 1e3:.0f} | |")
        lines.append(f"| JAX first jitted call at (1 000, 10, 10) | {s.jax.first_call_seconds * 1e3:.0f} | tracing + compiling ≈ {compile_ms:.0f} ms |")
    return lines + [""]


def training_section(result: SuiteResult) -> list[str]:
    """Training wall times."""
    t = result.training
    if t is None:
        return []
    from benchmarks.training import GAMMA, HIDDEN, STEPS

    lines = [f"## Training: {STEPS} full-batch steps, constant step, diabetes data standardised (n = {t.n}, p = {t.p}, M = {HIDDEN}, tanh)", "",
             "| runner | wall time (ms) | steps | R after |", "|---|---:|---:|---:|",
             f"| symbp.train, γ = {GAMMA} on R | {t.symbp.seconds * 1e3:.0f} | {t.symbp.steps} | {t.symbp.final_R:.2f} |"]
    if t.sklearn is None:
        lines.append("| scikit-learn MLPRegressor (sgd) | — | — | missing (pip install -e '.[bench]') |")
    else:
        lines.append(f"| scikit-learn MLPRegressor (sgd), learning_rate_init = γ·2n = {GAMMA * 2 * t.n:g} | {t.sklearn.seconds * 1e3:.0f} | {t.sklearn.steps} | {t.sklearn.final_R:.2f} |")
    if t.others_cpu is not None:
        lines += ["", f"Other processes took {t.others_cpu:.0%} of the machine's CPU time while these ran."]
    return lines + [""]


def markdown(result: SuiteResult, command: str) -> str:
    """The whole report."""
    peers = ", ".join(p.name for p in (PEERS_FLOAT32 if result.dtype == "float32" else PEERS))
    lines = ["# symbp benchmark results", "", f"`{command}`", "", "## Machine", "", *machine_lines(result), "",
             f"## loss_and_grad, time per call ({result.dtype}, g = identity)", "",
             (f"Each implementation alone in {result.rounds} fresh processes, taken in turn with the others', "
                "its allocator warmed by one freed 32 MB array; medians over all their batches "
                f"(at least {result.repeats}) after a warm-up"
                if result.isolated else f"Medians over {result.repeats} batches after a warm-up, all implementations in one process (--in-process)")
             + "; every peer timed with 1 and with 2 threads (BLAS, OpenMP, XLA and PyTorch held to them), the faster "
             "reported, the other's median beside it; a row disturbed by other processes measured again (up to --retries times)"
             "; best = the fastest batch; spread = (max − min) / median; kernel ÷ it = ratio of medians; "
             "others' CPU = share of the machine's CPU time other processes took while it was timed; "
             "page faults = minor page faults per call while timing (each maps in 4 KiB of fresh memory). "
             f"Every implementation's (R, ∇R) was compared with the kernel's (relative {rtol_text(result)}) before it was timed. "
             f"Implementations: {peers}.", "",
             *table(result), "",
             "## Targets", "", "```", *(t.line() for t in targets(result)), "```", "",
             *memory_section(result), *startup_section(result), *training_section(result)]
    if result.mismatches:
        lines += ["## FAILED: some implementations disagree with the kernel", ""]
        lines += [f"- {case.size} σ={case.sigma}: {row.name}: {row.note}" for case, row in result.mismatches]
    return "\n".join(lines).rstrip() + "\n"


def rtol_text(result: SuiteResult) -> str:
    """The relative difference a peer may have from the kernel in this run."""
    return f"{RTOL_FLOAT32:g}, float32" if result.dtype == "float32" else f"{RTOL:g}"


def summary(result: SuiteResult) -> str:
    """The target lines alone, for the end of the console output."""
    return "\n".join(t.line() for t in targets(result))
