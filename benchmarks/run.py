"""Benchmark symbp's generated kernels: ``python benchmarks/run.py [--sizes small|all] [--repeats N] [--dtype float32] [--out FILE]``.

Times ``loss_and_grad`` against hand-written NumPy, JAX, PyTorch, scikit-learn
and the floor of unavoidable work; measures memory, start-up and training
speed; prints a Markdown report with every target as MET or NOT MET and writes
it to ``--out``.  Install the peers with ``pip install -e '.[bench]'``; a peer
that is not installed is reported as missing.

Exit status: 0, or 1 when an implementation disagrees with the kernel (the
report is written all the same), or 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import DTYPES, sizes_for  # noqa: E402
from benchmarks.report import markdown, summary  # noqa: E402
from benchmarks.suite import RETRIES, ROUNDS, SuiteResult, run_suite  # noqa: E402

#: Where the report goes by default (a float32 run's: results_float32.md).
DEFAULT_OUT: Path = Path(__file__).resolve().parent / "results.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("--sizes", choices=("small", "all"), default="small", help="small: (1000, 10, 10) only; all: also (10000, 100, 100) and (100000, 50, 50)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per case; the median is reported (default 7)")
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float64",
        help="float32: a float32 kernel against JAX jit and PyTorch in float32 (target: ≤ 0.9 × JAX jit float32 at the large sizes); no extras",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"Markdown report (default {DEFAULT_OUT.relative_to(DEFAULT_OUT.parent.parent)}, with --dtype float32 results_float32.md)")
    parser.add_argument("--no-extras", action="store_true", help="time loss_and_grad only: skip memory, start-up and training")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"fresh processes per implementation and case, taken in turn; their batches are pooled (default {ROUNDS})")
    parser.add_argument("--retries", type=int, default=RETRIES, help=f"how many times a disturbed row is measured again before it is reported disturbed (default {RETRIES})")
    parser.add_argument("--in-process", action="store_true", help="time every implementation in this process instead of one fresh process each (faster, but the libraries' thread pools disturb each other)")
    parser.add_argument("--quick", action="store_true", help="fewer fresh processes for the start-up figures (M = 3 only) and one training run each")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.retries < 0:
        parser.error("--retries must be at least 0")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.out is None:
        args.out = DEFAULT_OUT if args.dtype == "float64" else DEFAULT_OUT.with_name(f"results_{args.dtype}.md")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print the report and write it; 1 if any implementation disagreed with the kernel."""
    args = parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/run.py", *words])
    result: SuiteResult = run_suite(
        sizes_for(args.sizes),
        args.repeats,
        extras=not args.no_extras,
        quick=args.quick,
        isolate=not args.in_process,
        rounds=args.rounds,
        retries=args.retries,
        progress=lambda message: print(f"... {message}", file=sys.stderr, flush=True),
        dtype=args.dtype,
    )
    report = markdown(result, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    print(summary(result))
    print(f"\nwritten to {args.out}")
    if result.mismatches:
        for case, row in result.mismatches:
            print(f"FAILED: {row.name} disagrees with the kernel at {case.size} σ={case.sigma}: {row.note}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
