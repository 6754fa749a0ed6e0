"""Deep networks: ``loss_and_grad`` of the kernel against JAX jit and PyTorch, depth by depth.

``python benchmarks/deep.py [--depths 1,2,3,4,5] [--repeats 7] [--rounds 3] [--out FILE] [--symbp PATH]``

The case of the performance issue: n = 20 000 samples, p = 32 inputs, hidden layers of width
64 (σ = tanh, g = identity, quadratic loss), 1 to 5 of them, float64.  For each depth the
kernel is emitted once (by the symbp of ``--symbp PATH``, default this checkout), then every
implementation is timed alone in a fresh process (``--rounds`` processes each, taken in turn,
their batches pooled; a library's idle threads cannot slow the next one down), after checking
its (R, ∇R) against the kernel's.  Each peer is timed with one thread and with two
(:mod:`benchmarks.threads`) and the faster counts; the kernel uses its default (every core).  The report gives the medians, the kernel's ratio to each peer,
the CPU model and the load average before and after; a row whose timing was disturbed (another
process took the CPU meanwhile, see :meth:`benchmarks.timing.Timing.disturbance`) is marked and
judged by no target.  Target: the kernel at most 1.0 × JAX at every depth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.processes import ROOT, last_json  # noqa: E402
from benchmarks.measure import Check, PeerResult, fastest  # noqa: E402
from benchmarks.report import cpu_model, significant, version  # noqa: E402
from benchmarks.threads import PEER_THREADS, TORCH_THREADS, environment, label  # noqa: E402
from benchmarks.timing import Timing, time_call  # noqa: E402

N, P, WIDTH, SEED = 20_000, 32, 64, 0
DEFAULT_DEPTHS = (1, 2, 3, 4, 5)
IMPLEMENTATIONS = ("kernel", "JAX jit", "PyTorch")
#: The issue's target: the kernel's median over JAX's at every depth.
JAX_TARGET = 1.0
#: Largest relative difference of R or a gradient from the kernel's for a peer to count as agreeing.
RTOL = 1e-8


def problem(depth: int, kernel):
    """The data and the kernel's initial parameters (with nonzero biases), the same in every process."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((N, P))
    y = rng.standard_normal(N)
    params = kernel.init_params(P, seed=SEED)
    params = {name: value + (0.1 * rng.standard_normal(value.shape) if name.startswith("b") else 0) for name, value in params.items()}
    return X, y, params


def layers(params: dict, depth: int) -> list[tuple[str, str]]:
    """(W, b) names from the input inwards out: W{depth+1} first, W1 (the output layer) last."""
    return [(f"W{number}", f"b{number}") for number in range(depth + 1, 0, -1)]


def prepared(name: str, depth: int, kernel_path: str):
    """(call, result) for one implementation: call() blocks until done; result() is (R, {name: gradient})."""
    kernel = _import(kernel_path)
    X, y, params = problem(depth, kernel)
    if name == "kernel":
        call = lambda: kernel.loss_and_grad(params, X, y)  # noqa: E731
        return call, call
    if name == "JAX jit":
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")

        def loss(prm, X, y):
            h = X
            for W, b in layers(prm, depth)[:-1]:
                h = jnp.tanh(h @ prm[W].T + prm[b])
            f = h @ prm["W1"].T + prm["b1"]
            return jnp.sum((y[:, None] - f) ** 2)

        value_and_grad = jax.jit(jax.value_and_grad(loss))
        device = {k: jax.device_put(v) for k, v in params.items()}
        Xd, yd = jax.device_put(X), jax.device_put(y)
        call = lambda: jax.block_until_ready(value_and_grad(device, Xd, yd))  # noqa: E731
        return call, lambda: (lambda out: (float(out[0]), {k: np.asarray(v) for k, v in out[1].items()}))(call())
    if name == "PyTorch":
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(int(os.environ.get(TORCH_THREADS, cores)))
        tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        names = list(tensors)

        def call():
            h = Xt
            for W, b in layers(tensors, depth)[:-1]:
                h = torch.tanh(h @ tensors[W].T + tensors[b])
            f = h @ tensors["W1"].T + tensors["b1"]
            R = torch.sum((yt[:, None] - f) ** 2)
            return R, torch.autograd.grad(R, [tensors[k] for k in names])

        return call, lambda: (lambda out: (float(out[0].detach()), {k: g.numpy() for k, g in zip(names, out[1])}))(call())
    raise ValueError(f"no implementation is called {name!r}; the choices are {', '.join(IMPLEMENTATIONS)}")


def _import(path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"deep_kernel_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job(name: str, depth: int, kernel_path: str, repeats: int, answer: str) -> dict:
    """Run in a fresh process: time one implementation, save its (R, ∇R) to ``answer``; the timing as a dict."""
    np.ones(32_000_000 // 8)  # warm the allocator as benchmarks/worker.py does, so that every process starts alike
    call, result = prepared(name, depth, kernel_path)
    R, grads = result()
    np.savez(answer, R=np.float64(R), **grads)
    return time_call(call, repeats, warmup=2).to_dict()


def emit_kernels(depths: tuple[int, ...], folder: Path, symbp: Path) -> dict[int, str]:
    """Each depth's kernel, emitted by the symbp at ``symbp`` in a fresh process."""
    code = (
        "import sys; from symbp.kernel.emit import emit; from symbp.symbolic.derivation import derive\n"
        "for depth in map(int, sys.argv[2:]):\n"
        f"    print(emit(derive(hidden=({WIDTH},) * depth, sigma='tanh', g='identity'), sys.argv[1], name=f'deep{{depth}}'))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(symbp))
    done = subprocess.run([sys.executable, "-c", code, str(folder), *map(str, depths)], capture_output=True, text=True, env=env, check=True)
    return dict(zip(depths, done.stdout.split()))


#: The thread counts each implementation is timed with: the kernel its default (None), every peer 1 and 2.
THREADS: dict[str, tuple[int | None, ...]] = {"kernel": (None,), **{name: PEER_THREADS for name in IMPLEMENTATIONS[1:]}}


@dataclass(frozen=True)
class Row:
    """One depth: each implementation's result (a peer's at its faster thread count, :func:`benchmarks.measure.fastest`)
    and each peer's agreement with the kernel."""

    depth: int
    results: dict[str, PeerResult]
    differences: dict[str, float]

    @property
    def timings(self) -> dict[str, Timing]:
        return {name: result.timing for name, result in self.results.items()}  # type: ignore[misc]


def agreement(kernel_answer: str, peer_answer: str) -> float:
    """The largest relative difference of R and each gradient from the kernel's."""
    with np.load(kernel_answer) as mine, np.load(peer_answer) as theirs:
        return max(float(np.abs(mine[k] - theirs[k]).max() / max(np.abs(mine[k]).max(), 1e-300)) for k in mine.files)


def run(depths: tuple[int, ...], repeats: int, rounds: int, symbp: Path, progress=print) -> list[Row]:
    """Every implementation at every depth, ``rounds`` fresh processes each, taken in turn."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        kernels = emit_kernels(depths, folder, symbp)
        pooled: dict[tuple[int, str, int | None], list[Timing]] = {}
        for round_ in range(rounds):
            for depth in depths:
                for name in IMPLEMENTATIONS:
                    for threads in THREADS[name]:
                        progress(f"... round {round_ + 1}/{rounds}, depth {depth}, {name}, {label(threads)}")
                        answer = folder / f"{depth}-{name.replace(' ', '_')}.npz"
                        spec = json.dumps([name, depth, kernels[depth], repeats, str(answer)])
                        env = dict(os.environ, PYTHONPATH=str(ROOT), **(environment(threads) if threads else {}))
                        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--job", spec], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
                        if done.returncode != 0:
                            raise RuntimeError(f"{name} at depth {depth} ({label(threads)}) failed:\n{done.stderr}")
                        pooled.setdefault((depth, name, threads), []).append(Timing.from_dict(last_json(done.stdout)))
        rows = []
        for depth in depths:
            kernel_answer = folder / f"{depth}-kernel.npz"
            differences = {name: agreement(str(kernel_answer), str(folder / f"{depth}-{name.replace(' ', '_')}.npz")) for name in IMPLEMENTATIONS[1:]}
            results = {
                name: fastest([PeerResult(name, Check.OK, timing=Timing.pooled(pooled[depth, name, t]), threads=t) for t in THREADS[name]])
                for name in IMPLEMENTATIONS
            }
            rows.append(Row(depth, results, differences))
        return rows


def markdown(rows: list[Row], command: str, load_before: tuple, load_after: tuple, symbp: Path) -> str:
    """The report: machine, the table, the target."""
    lines = [
        "# Deep networks: loss_and_grad against JAX jit and PyTorch",
        "",
        f"`{command}`: n = {N:,}".replace(",", " ") + f", p = {P}, hidden layers of width {WIDTH} (σ = tanh, g = identity, quadratic loss), float64; "
        "medians of pooled batches from fresh processes, one per implementation, thread count, depth and round; each peer "
        "timed with 1 and with 2 threads, the faster shown (the other's median in brackets), the kernel on every core.",
        "",
        f"- CPU: {cpu_model()}; {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores",
        f"- load average (1, 5, 15 min) before → after: {', '.join(f'{x:.2f}' for x in load_before)} → {', '.join(f'{x:.2f}' for x in load_after)}",
        f"- Python {sys.version.split()[0]}, numpy {np.__version__}, jax {version('jax')}, torch {version('torch')}",
        f"- symbp: {'this checkout' if symbp == ROOT else symbp.name}",
        "",
        "| hidden layers | kernel (ms) | JAX jit (ms) | PyTorch (ms) | kernel / JAX | kernel / PyTorch | disturbed |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    met, judged = True, 0
    for row in rows:
        t = row.timings
        disturbed = [f"{name}: {t[name].disturbance()}" for name in IMPLEMENTATIONS if t[name].disturbance()]
        jax_ratio, torch_ratio = t["kernel"].median / t["JAX jit"].median, t["kernel"].median / t["PyTorch"].median
        if not disturbed:
            met &= jax_ratio <= JAX_TARGET
            judged += 1
        lines.append(
            f"| {row.depth} | {t['kernel'].median * 1e3:.2f} | {_peer(row, 'JAX jit')} | {_peer(row, 'PyTorch')} "
            f"| {significant(jax_ratio)} | {significant(torch_ratio)} | {'; '.join(disturbed) or 'no'} |"
        )
    worst = max(row.differences[name] for row in rows for name in row.differences)
    lines += ["", f"Largest relative difference of a peer's R or gradient from the kernel's: {worst:.1e} (agreeing within {RTOL:g}: {'yes' if worst <= RTOL else 'NO'}).", ""]
    verdict = "NOT CHECKED (every depth disturbed; re-run on a quieter machine)" if not judged else "MET" if met else "NOT MET"
    lines.append(f"- {verdict}: kernel ≤ {JAX_TARGET} × JAX jit at every undisturbed depth ({judged} of {len(rows)} undisturbed)")
    return "\n".join(lines) + "\n"


def _peer(row: Row, name: str) -> str:
    """A peer's median in ms, with its thread count and the other count's: ``21.30 (1 thread; 2 threads: 25.100 ms)``."""
    result = row.results[name]
    text = f"{result.timing.median * 1e3:.2f}"  # type: ignore[union-attr]
    return text if result.threads is None else text + f" ({label(result.threads)}; {result.others})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/deep.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--depths", default=",".join(map(str, DEFAULT_DEPTHS)), help="hidden layers, comma-separated (default 1,2,3,4,5)")
    parser.add_argument("--repeats", type=int, default=7, help="timed batches per process (default 7)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per implementation and depth (default 3)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "deep.md", help="Markdown report (default benchmarks/deep.md)")
    parser.add_argument("--symbp", type=Path, default=ROOT, help="the checkout whose symbp emits the kernels (default this one)")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job(*json.loads(args.job))))
        return 0
    try:
        depths = tuple(int(d) for d in args.depths.split(","))
    except ValueError:
        parser.error(f"--depths must be whole numbers separated by commas, not {args.depths!r}")
    if min(depths) < 1 or args.repeats < 1 or args.rounds < 1:
        parser.error("--depths, --repeats and --rounds must be at least 1")
    command = "python benchmarks/deep.py " + " ".join((argv if argv is not None else sys.argv[1:]))
    before = os.getloadavg()
    rows = run(depths, args.repeats, args.rounds, args.symbp.resolve(), progress=lambda m: print(m, file=sys.stderr, flush=True))
    report = markdown(rows, command.strip(), before, os.getloadavg(), args.symbp.resolve())
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
