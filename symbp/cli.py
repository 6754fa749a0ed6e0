"""The ``symbp`` command line.

Each subcommand is a thin shell around the Python API.  A user mistake
(:class:`~symbp.errors.UserError`) becomes one line on stderr and exit status 2;
only an internal error (a bug in symbp) shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from symbp.errors import UserError
from symbp.spec.names import ACTIVATION_NAMES, OUTPUT_NAMES, VIEWS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hidden", "-M", default="3", metavar="M",
        help="number of hidden units M, a positive integer (default 3); several hidden layers as sizes from the input "
        "towards the output, e.g. 16,8",
    )
    parser.add_argument(
        "--sigma",
        default="tanh",
        metavar="SIGMA",
        help=f"activation: {', '.join(ACTIVATION_NAMES)}, or an expression in x such as 'x/(1+exp(-x))' (default tanh); "
        "with several hidden layers one for all or one per layer, e.g. relu,tanh",
    )
    parser.add_argument(
        "--g", default="identity", metavar="G", help=f"output function: {', '.join(OUTPUT_NAMES)}, or an expression in x (default identity)"
    )
    parser.add_argument("--inputs", "-p", default=None, metavar="P", help="input size p (default: symbolic)")
    parser.add_argument("--outputs", "-d", default="1", metavar="D", help="output size d (default 1)")
    parser.add_argument(
        "--loss", default="quadratic", metavar="LOSS",
        help="quadratic (default: sum of squared errors) or bce (binary cross-entropy; needs --g sigmoid and targets in [0, 1])",
    )
    parser.add_argument("--l2", default="0", metavar="LAMBDA", help="add the penalty LAMBDA * sum of the squared weights (default 0: none)")


def _spec(args: argparse.Namespace):
    from symbp.spec.network import make_spec

    return make_spec(
        hidden=args.hidden, sigma=args.sigma, g=args.g, inputs=args.inputs, outputs=args.outputs, loss=args.loss, l2=args.l2
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbp", description="Backpropagation derived by SymPy: LaTeX derivations and NumPy gradient kernels.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    derive = sub.add_parser("derive", help="derive the gradients of R and print them as a LaTeX document")
    _spec_arguments(derive)
    derive.add_argument("--expand", action="store_true", help="also write every component for the given M and p (needs --inputs, M·p ≤ 50)")
    derive.add_argument("-o", "--output", type=Path, metavar="FILE.tex", help="write the document here instead of stdout")
    derive.add_argument("--pdf", action="store_true", help="also compile FILE.pdf next to FILE.tex with pdflatex (needs -o)")
    derive.add_argument("--formulas", action="store_true", help="print only the gradient formulas (an align* block), not a whole document")
    derive.add_argument(
        "--view", default="component", choices=VIEWS,
        help="component: one generic component of each gradient (default); matrix: the same gradients as matrix products "
        "(with --formulas: instead of the components; in a document: an extra section)",
    )
    derive.set_defaults(run=_cmd_derive)

    emit = sub.add_parser("emit", help="write a NumPy gradient kernel for a spec and print its path")
    _spec_arguments(emit)
    emit.add_argument("--out", default="generated", type=Path, metavar="DIR", help="folder to write into (default generated/)")
    emit.add_argument("--name", default=None, metavar="NAME", help="module name (default: from the spec, e.g. tanh_identity_m3)")
    emit.set_defaults(run=_cmd_emit)

    train = sub.add_parser(
        "train",
        help="train with a generated kernel by gradient descent",
        description=(
            "Train with a generated kernel by gradient descent; write PREFIX.params.npz and PREFIX.history.csv. "
            "SIGINT (Ctrl-C) or SIGTERM stops the run after the current step and writes a checkpoint; "
            "'symbp train --resume CHECKPOINT' goes on from it and ends exactly as an uninterrupted run would."
        ),
        epilog=(
            "exit status: 0 the run finished; 1 the loss diverged (the last finite parameters and the history are "
            "still written); 2 a mistake in the arguments, data, kernel or checkpoint (nothing written); "
            "130 (SIGINT) or 143 (SIGTERM) interrupted, checkpoint written. A signal after the last step, "
            "while the results are written, lets the writing finish and is reported on stderr."
        ),
    )
    # Settings that shape the run default to None here, so that with --resume a setting
    # typed again can be told apart from one left out; the defaults apply in _cmd_train.
    train.add_argument("kernel", nargs="?", type=Path, metavar="KERNEL.py", help="a kernel written by 'symbp emit' (with --resume: optional, must be the same kernel)")
    train.add_argument("--data", type=Path, metavar="FILE", help="training data: .csv with a header, .npy or .npz (arrays X and y); required unless --resume")
    train.add_argument("--target", default=None, metavar="NAME", help="target column(s) of a CSV, comma separated; for .npy a column index (default: last)")
    train.add_argument("--steps", default=None, type=_int_arg("--steps", 0), metavar="N", help="largest number of gradient steps (default 1000)")
    train.add_argument("--step-size", default=None, metavar="RULE", help="armijo, armijo:G0, a number, constant:G, or decay:G0,TAU (default armijo)")
    train.add_argument("--batch-size", default=None, type=_int_arg("--batch-size", 1), metavar="B", help="mini-batch size (default: full batch)")
    train.add_argument("--seed", default=None, type=_int_arg("--seed", 0), metavar="S", help="seed for the initial parameters and the shuffling (default 0)")
    train.add_argument("--tol", default=None, type=_float_arg("--tol"), metavar="G", help="stop when the gradient norm is at most G (default 0: never)")
    train.add_argument("--patience", default=None, type=_int_arg("--patience", 1), metavar="P", help="stop when the loss has not improved for P steps")
    train.add_argument(
        "--divergence-factor", default=None, metavar="F",
        help="stop as diverged (exit status 1) once the loss exceeds F · max(1, |initial loss|), F >= 1, or 'inf' for "
        "only NaN/infinity (default 1e6); the last finite parameters are written",
    )
    train.add_argument("--standardize", action="store_true", default=None, help="centre and scale the input columns (saved with the parameters)")
    train.add_argument("-o", "--output", default=None, metavar="PREFIX", help="write PREFIX.params.npz and PREFIX.history.csv (default: the kernel's name)")
    train.add_argument("--checkpoint", default=None, type=Path, metavar="FILE", help="where an interrupted run saves its state (default PREFIX.checkpoint.npz; with --resume, the file resumed from)")
    train.add_argument(
        "--resume", default=None, type=Path, metavar="CHECKPOINT",
        help="go on with an interrupted run, with the settings saved in CHECKPOINT; settings given again must match",
    )
    train.add_argument("--trust", action="store_true", default=None, help="load the kernel even if it was edited by hand")
    train.add_argument(
        "--dask", nargs="?", const="", default=None, metavar="ADDRESS",
        help="train on a Dask cluster: the data stay partitioned on the workers and only the parameters travel; "
        "no ADDRESS starts a local cluster of 2 workers, tcp://HOST:PORT uses a running scheduler (pip install 'symbp[dask]')",
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar (on a terminal) and no periodic log lines (otherwise)")
    train.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="write the loss and gradient-norm curves (log scale); needs matplotlib: pip install 'symbp[plot]'")
    train.set_defaults(run=_cmd_train)

    check = sub.add_parser(
        "check",
        help="check a hand-derived gradient formula against the derived one",
        description="Check a hand-derived formula for one generic component of a gradient, e.g. dR/dW2[m,j]. "
        "Arrays are written x[i,j], y[i], W1[m], b1, W2[m,j], b2[m], a[i,m], h[i,m], z[i], f[i] (with d > 1 add the output index k: "
        "y[i,k], W1[k,m], z[i,k], f[i,k]); sums as sum(BODY, i) or sum(BODY, i, k); functions sigma, sigma_prime, g, g_prime, "
        "exp, log, tanh, ... See the README, 'Checking a hand-derived gradient'.",
        epilog="exit status: 0 the formula equals the derived gradient; 1 it does not; 2 a mistake in the arguments or the formula.",
    )
    _spec_arguments(check)
    check.add_argument("--param", required=True, metavar="NAME", help="the parameter whose gradient the formula gives: W1, b1, W2, b2, ...")
    check.add_argument("formula", metavar="FORMULA", help="the formula for one generic component of the gradient")
    check.set_defaults(run=_cmd_check)

    demo = sub.add_parser("demo", help="derive, emit and train on the diabetes data shipped with symbp")
    demo.add_argument("--out", default="symbp-demo", type=Path, metavar="DIR", help="folder for the results (default symbp-demo/)")
    demo.set_defaults(run=_cmd_demo)
    return parser


class _Silent:
    """The progress reporter of --quiet: says nothing."""

    def __call__(self, row: object) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _int_arg(flag: str, minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer >= {minimum}, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer >= {minimum}, not {value}")
        return value

    return parse


def _float_arg(flag: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number >= 0, not {text!r}") from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{flag} must be a finite number >= 0, not {text!r}")
        return value

    return parse


def _cmd_derive(args: argparse.Namespace) -> int:
    from symbp.symbolic.derivation import derive
    from symbp.files import write_text_atomic

    if args.pdf and args.output is None:
        raise UserError("--pdf needs -o FILE.tex: the PDF is written next to the .tex file")
    if args.pdf and args.formulas:
        raise UserError("--pdf compiles the whole document; leave out --formulas (the formulas alone are not a document)")
    if args.output is not None:
        if args.output.suffix != ".tex":
            raise UserError(f"-o {args.output}: the output file must end in .tex")
        for path in (args.output, args.output.with_suffix(".pdf")) if args.pdf else (args.output,):
            if path.is_dir():
                raise UserError(f"-o {args.output}: {path} is a folder")
    derivation = derive(spec=_spec(args))
    if args.formulas:
        text = derivation.latex(expand=args.expand, view=args.view)
    else:
        text = derivation.document(expand=args.expand, view=args.view)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.pdf:
        from symbp.latex.pdf import compile_pdf

        # The PDF first: if pdflatex is missing or fails, nothing is written.
        pdf = compile_pdf(text, args.output.with_suffix(".pdf"))
    write_text_atomic(args.output, text)
    print(args.output)
    if args.pdf:
        print(pdf)
    return 0


def _cmd_emit(args: argparse.Namespace) -> int:
    from symbp.symbolic.derivation import derive
    from symbp.kernel.emit import emit, kernel_name

    spec = _spec(args)
    kernel_name(spec, args.name)  # check the name before deriving
    path = emit(derive(spec=spec), args.out, name=args.name)
    print(path)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from symbp.checker.check import check

    result = check(args.formula, args.param, spec=_spec(args))
    print(result.report())
    return 0 if result.correct else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    with ExitStack() as resources:  # closes a Dask client (and its local cluster) however training ends
        return _train(args, resources)


def _train(args: argparse.Namespace, resources) -> int:
    import hashlib
    import math
    import shlex
    import signal

    from symbp.training.checkpoint import Checkpoint, Settings, StopOnSignals, data_sha256, file_sha256, load_checkpoint, save_checkpoint
    from symbp.data import Standardizer, load
    from symbp.kernel.load import load_kernel
    from symbp.training.runner import DIVERGENCE_FACTOR, StopReason, parse_step_size
    from symbp.files import writable_folder
    from symbp.training.fit import check_data, save_history, save_params, train

    # Check everything before any work, so that a mistake costs nothing and overwrites nothing.
    factor = args.divergence_factor
    if factor is not None:
        try:
            factor = float(factor)
        except ValueError:
            factor = math.nan
        if not factor >= 1:
            raise UserError(f"--divergence-factor must be a number >= 1 or 'inf', not {args.divergence_factor!r}")
        factor = None if math.isinf(factor) else factor
    # The settings typed on this command line, as values comparable with saved ones.
    typed = {
        name: (raw, value)
        for name, raw, value in (
            ("target", args.target, args.target), ("steps", args.steps, args.steps),
            ("step_size", args.step_size, args.step_size and parse_step_size(args.step_size)),
            ("batch_size", args.batch_size, args.batch_size), ("seed", args.seed, args.seed), ("tol", args.tol, args.tol),
            ("patience", args.patience, args.patience), ("standardize", args.standardize, args.standardize),
            ("divergence_factor", args.divergence_factor, factor),
        )
        if raw is not None
    }
    state = None
    if args.resume is not None:
        # A resumed run keeps every setting it was started with: that is what makes it
        # end exactly as the uninterrupted run would.  Settings typed again must agree.
        saved = load_checkpoint(args.resume)
        settings, state = saved.settings, saved.state
        for name, (raw, value) in typed.items():
            before = getattr(settings, name)
            if value != (parse_step_size(before) if name == "step_size" else before):
                flag = "--" + name.replace("_", "-")
                now = flag if raw is True else f"{flag} {raw}"
                shown = "inf" if name == "divergence_factor" and before is None else before
                raise UserError(
                    f"{now} differs from the run saved in {args.resume} ({name}: {shown}); "
                    f"a resumed run keeps the settings it was started with: leave {flag} out"
                )
        kernel_path = args.kernel if args.kernel is not None else Path(settings.kernel)
        data_path = args.data if args.data is not None else Path(settings.data)
        trust = settings.trust or bool(args.trust)
        prefix = args.output or settings.output
        checkpoint_path = args.checkpoint or args.resume
    else:
        if args.kernel is None or args.data is None:
            raise UserError("train needs KERNEL.py and --data FILE (or --resume CHECKPOINT to go on with an interrupted run)")
        kernel_path, data_path, trust = args.kernel, args.data, bool(args.trust)
        prefix = args.output or args.kernel.stem
        checkpoint_path = args.checkpoint or Path(f"{prefix}.checkpoint.npz")
        settings = None
    step_size = parse_step_size(settings.step_size if settings else args.step_size or "armijo")
    kernel = load_kernel(kernel_path, trust=trust)
    kernel_digest = file_sha256(kernel_path)
    if settings and kernel_digest != settings.kernel_sha256:
        raise UserError(f"kernel {kernel_path} is not the kernel the run in {args.resume} was started with ({settings.kernel}); give that kernel")
    target = settings.target if settings else args.target
    targets = None if target is None else [t.strip() for t in target.split(",")]
    chosen = targets[0] if targets and len(targets) == 1 else targets
    client = parts = None
    if args.dask is not None:
        # The data stay partitioned on the cluster; the client never holds them.
        from symbp.cluster import check_full_batch, connect, read_data

        check_full_batch(settings.batch_size if settings else args.batch_size)  # before starting a cluster
        client = resources.enter_context(connect(args.dask or None))
        parts = read_data(client, data_path, chosen)
        with open(data_path, "rb") as stream:
            digest = "file:" + hashlib.file_digest(stream, "sha256").hexdigest()
    else:
        data = load(data_path, chosen)
        X, y = check_data(kernel, data.X, data.y, source=str(data_path))
        digest = data_sha256(X, y)
    if settings and digest != settings.data_sha256:
        raise UserError(f"the data in {data_path} (target {target!r}) differ from those the run in {args.resume} was started with ({settings.data}); give those data")
    if settings is None:
        settings = Settings(
            kernel=str(Path(kernel_path).resolve()), kernel_sha256=kernel_digest, data=str(Path(data_path).resolve()),
            data_sha256=digest, target=args.target, steps=1000 if args.steps is None else args.steps,
            step_size=args.step_size or "armijo", batch_size=args.batch_size, seed=args.seed or 0, tol=args.tol or 0.0,
            patience=args.patience, standardize=bool(args.standardize),
            divergence_factor=factor if args.divergence_factor is not None else DIVERGENCE_FACTOR,
            output=str(Path(prefix).resolve()), trust=trust,
        )
    extra = {}
    if settings.standardize:
        if parts is not None:
            from symbp.cluster import standardize as standardize_partitions

            parts, scaler = standardize_partitions(parts)
        else:
            scaler = Standardizer.fit(X)
            X = scaler.transform(X)
        extra = {"x_mean": scaler.mean, "x_scale": scaler.scale}
    params_path, history_path = Path(f"{prefix}.params.npz"), Path(f"{prefix}.history.csv")
    for path in (params_path, history_path, checkpoint_path):
        writable_folder(path)
    if args.plot is not None:
        from symbp.training.plot import check_plot_path

        check_plot_path(args.plot)

    # --- train; SIGINT/SIGTERM stop it between two steps ---
    from symbp.training.progress import Progress

    first = 0 if state is None else state.step
    # The first signal is held until the results are written: one that comes after the last step
    # (or while saving) stops nothing, and the run's outputs are written in full (a second one
    # interrupts at once, as everywhere else).
    with StopOnSignals() as stop:
        with Progress(settings.steps, first_step=first) if not args.quiet else _Silent() as progress:
            common = dict(
                steps=settings.steps, step_size=step_size, batch_size=settings.batch_size, seed=settings.seed,
                grad_tol=settings.tol, patience=settings.patience, divergence_factor=settings.divergence_factor,
                stop_requested=stop.requested, state=state, callback=progress,
            )
            if parts is not None:
                from symbp.cluster import train_on_cluster

                result = train_on_cluster(kernel_path, parts, client, trust=trust, **common)
            else:
                result = train(kernel, X, y, **common)
        if result.reason is StopReason.INTERRUPTED:
            save_checkpoint(checkpoint_path, Checkpoint(settings, result.state))
            name = signal.Signals(stop.received).name
            print(
                f"symbp: {name} after {result.steps} of {settings.steps} steps: checkpoint in {checkpoint_path}; "
                f"resume with: symbp train --resume {shlex.quote(str(checkpoint_path))}"
            )
            return 128 + stop.received  # 130 for SIGINT, 143 for SIGTERM, as shells report them

        save_params(params_path, result.params, **extra)
        save_history(history_path, result.history)
        if args.plot is not None:
            from symbp.training.plot import plot_history

            plot_history(result.history, args.plot, title=Path(kernel_path).stem)
        if args.resume is not None and checkpoint_path.resolve() == args.resume.resolve():
            checkpoint_path.unlink(missing_ok=True)  # the run is complete: its checkpoint has served
        if stop.received is not None:
            print(f"symbp: {signal.Signals(stop.received).name} came after the last step; the run's outputs are written in full", file=sys.stderr)
        if result.reason is StopReason.DIVERGED:
            if len(result.history) == 1:  # nothing finite to keep: the start itself
                print(f"diverged at the start, exit status 1: {result.detail}; saved the starting parameters in {params_path}, history in {history_path}; check the data (try --standardize)")
                return 1
            print(
                f"diverged, exit status 1: {result.detail}; saved the last finite parameters, after {result.steps} steps "
                f"with loss R = {result.final_loss:.6g}, in {params_path}, history in {history_path}; "
                f"try a smaller --step-size, or --step-size armijo"
            )
            return 1
        print(f"{result.steps} steps, final loss R = {result.final_loss:.6g}, stopped: {result.reason.value}; parameters in {params_path}, history in {history_path}")
        return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from symbp.demo import demo

    result = demo(args.out)
    print("symbp demo: a tanh network with M = 8 hidden units on the diabetes data (Efron et al., 2004; 442 x 10)")
    print(f"  derivation (LaTeX): {result.tex}")
    print(f"  gradient kernel:    {result.kernel}")
    print(f"  parameters:         {result.params}")
    print(f"  history:            {result.history}")
    if result.plot is not None:
        print(f"  loss curves:        {result.plot}")
    else:
        from symbp.training.plot import INSTALL_HINT

        print(f"  loss curves:        not drawn ({INSTALL_HINT})")
    print(
        f"  {result.steps} Armijo steps ({result.reason}): loss R = {result.final_loss:.6g} "
        f"vs {result.mean_loss:.6g} for the mean-only predictor ({result.final_loss / result.mean_loss:.1%} of it)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UserError as err:
        print(f"symbp: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("symbp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
