"""The ``symbp`` command line.

Each subcommand is a thin shell around the Python API: it parses the options, makes one call
(``train`` calls :func:`symbp.session.train_session`) and prints the report.  A user mistake
(:class:`~symbp.errors.UserError`) becomes one line on stderr and exit status 2;
only an internal error (a bug in symbp) shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from symbp.errors import UserError
from symbp.version import __version__
from symbp.spec.names import ACTIVATION_NAMES, OUTPUT_NAMES, VIEWS

if TYPE_CHECKING:
    from symbp.session import SessionResult

EXIT_USAGE = 2
#: The run stopped on a failure outside symbp (its outputs could not be written, its cluster was lost)
#: and its state is kept in a checkpoint: try again later (sysexits' EX_TEMPFAIL).
EXIT_KEPT = 75
#: As EXIT_KEPT, but not even the checkpoint could be written: the run is lost (sysexits' EX_IOERR).
EXIT_LOST = 74


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


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
        help=f"activation: {', '.join(ACTIVATION_NAMES)}, or an expression in x (or u) such as 'x/(1+exp(-x))' (default tanh); "
        "with several hidden layers one for all or one per layer, e.g. relu,tanh",
    )
    parser.add_argument(
        "--g", default="identity", metavar="G", help=f"output function: {', '.join(OUTPUT_NAMES)}, or an expression in x or u (default identity)"
    )
    parser.add_argument("--inputs", "-p", default=None, metavar="P", help="input size p (default: symbolic)")
    parser.add_argument("--outputs", "-d", default="1", metavar="D", help="output size d (default 1)")
    parser.add_argument(
        "--loss", default="quadratic", metavar="LOSS",
        help="quadratic (default: sum of squared errors), bce (binary cross-entropy; needs --g sigmoid and targets in [0, 1]) "
        "or softmax (categorical cross-entropy over --outputs d >= 2 classes; g is the softmax)",
    )
    parser.add_argument("--l2", default="0", metavar="LAMBDA", help="add the penalty LAMBDA * sum of the squared weights (default 0: none)")
    parser.add_argument(
        "--reduction", default="sum", metavar="HOW",
        help="sum (default: R is the sum over the samples) or mean (R divided by n, so that the usual learning rates work)",
    )
    parser.add_argument(
        "--dtype", default="float64", metavar="TYPE",
        help="float64 (default) or float32: what the emitted kernel computes in (float32: see the README's accuracy contract)",
    )
    parser.add_argument(
        "--time-limit", default=60.0, type=_seconds_arg, metavar="SECONDS",
        help="give up (one line, exit status 2, nothing written) when the whole command takes longer (default 60)",
    )


def _spec(args: argparse.Namespace):
    from symbp.spec.network import make_spec

    return make_spec(
        hidden=args.hidden, sigma=args.sigma, g=args.g, inputs=args.inputs, outputs=args.outputs, loss=args.loss, l2=args.l2,
        reduction=args.reduction, dtype=args.dtype,
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``symbp`` command line, one subcommand per job."""
    parser = _Parser(prog="symbp", description="Backpropagation derived by SymPy: LaTeX derivations and NumPy gradient kernels.")
    parser.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for add in (_derive_parser, _emit_parser, _train_parser, _predict_parser, _evaluate_parser, _check_parser, _demo_parser):  # in the order --help lists them
        add(sub)
    return parser


def _derive_parser(sub: argparse._SubParsersAction) -> None:
    derive = sub.add_parser("derive", help="derive the gradients of R and print them as a LaTeX document")
    _spec_arguments(derive)
    derive.add_argument("--expand", action="store_true", help="also write every component for the given M and p (needs --inputs, M·p ≤ 50)")
    derive.add_argument("-o", "--output", type=Path, metavar="FILE.tex", help="write the document here instead of stdout")
    derive.add_argument("--pdf", action="store_true", help="also compile FILE.pdf next to FILE.tex with pdflatex (needs -o)")
    derive.add_argument(
        "--html", type=Path, metavar="FILE.html",
        help="write the derivation as one self-contained web page with MathML (no script, no network); without -o the LaTeX is not printed",
    )
    derive.add_argument("--formulas", action="store_true", help="print only the gradient formulas (an align* block), not a whole document")
    derive.add_argument(
        "--view", default="component", choices=VIEWS,
        help="component: one generic component of each gradient (default); matrix: the same gradients as matrix products "
        "(with --formulas: instead of the components; in a document: an extra section)",
    )
    derive.set_defaults(run=_cmd_derive)


def _emit_parser(sub: argparse._SubParsersAction) -> None:
    emit = sub.add_parser("emit", help="write a NumPy gradient kernel for a spec and print its path")
    _spec_arguments(emit)
    emit.add_argument("--out", default="generated", type=Path, metavar="DIR", help="folder to write into (default generated/)")
    emit.add_argument("--name", default=None, metavar="NAME", help="module name (default: from the spec, e.g. tanh_identity_m3)")
    emit.set_defaults(run=_cmd_emit)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    # Imported here, inside main's handling of Ctrl-C: importing the training stage loads NumPy.
    from symbp.training.rules import STEP_SIZE_FORMS

    train = sub.add_parser(
        "train",
        help="train with a generated kernel by gradient descent",
        description=(
            "Train with a generated kernel by gradient descent; write PREFIX.params.npz and PREFIX.history.csv. "
            "SIGINT (Ctrl-C) or SIGTERM stops the run after the current step and writes a checkpoint; "
            "'symbp train KERNEL.py --resume CHECKPOINT' goes on from it and ends exactly as an uninterrupted run would."
        ),
        epilog=(
            "exit status: 0 the run finished; 1 the loss diverged (the best parameters seen and the history are "
            "still written); 2 a mistake in the arguments, data, kernel or checkpoint (nothing written); "
            "130 (SIGINT) or 143 (SIGTERM) interrupted, checkpoint written; 75 the outputs could not be written "
            "or the Dask cluster was lost, checkpoint written; 74 as 75 but no checkpoint could be written either. "
            "A signal after the last step, while the results are written, lets the writing finish and is reported on stderr."
        ),
    )
    # Settings that shape the run default to None here, so that with --resume a setting
    # typed again can be told apart from one left out; the defaults apply in symbp.session.
    train.add_argument("kernel", nargs="?", type=Path, metavar="KERNEL.py", help="a kernel written by 'symbp emit' (with --resume: the kernel the run was started with)")
    train.add_argument("--data", type=Path, metavar="FILE", help="training data: .csv with a header, .npy or .npz (arrays X and y); required unless --resume")
    train.add_argument("--target", default=None, metavar="NAME", help="target column(s) of a CSV, comma separated; for .npy a column index (default: last)")
    train.add_argument("--steps", default=None, type=_int_arg("--steps", 0), metavar="N", help="largest number of gradient steps (default 1000)")
    train.add_argument("--step-size", default=None, metavar="RULE", help=f"{STEP_SIZE_FORMS.replace(chr(39), '')} (default armijo)")
    train.add_argument("--batch-size", default=None, type=_int_arg("--batch-size", 1), metavar="B", help="mini-batch size (default: full batch)")
    train.add_argument("--seed", default=None, type=_int_arg("--seed", 0), metavar="S", help="seed for the initial parameters and the shuffling (default 0)")
    train.add_argument("--tol", default=None, type=_float_arg("--tol"), metavar="G", help="stop when the gradient norm is at most G (default 0: never)")
    train.add_argument("--patience", default=None, type=_int_arg("--patience", 1), metavar="P", help="stop when the loss (the validation loss, with validation data) has not improved for P steps")
    held_out = train.add_mutually_exclusive_group()
    held_out.add_argument(
        "--validation", default=None, type=_fraction_arg("--validation"), metavar="FRACTION",
        help="hold out this fraction of the rows (chosen with --seed) as validation data: R on them is in the history, "
        "--patience watches it, and the parameters saved are those where it was lowest",
    )
    held_out.add_argument("--validation-data", default=None, type=Path, metavar="FILE", help="validation data from a file (same format and target as --data) instead")
    train.add_argument(
        "--divergence-factor", default=None, metavar="F",
        help="stop as diverged (exit status 1) once the loss exceeds F · max(1, |initial loss|), F >= 1, or 'inf' for "
        "only NaN/infinity (default 1e6); the best parameters seen are written",
    )
    train.add_argument("--standardize", action="store_true", default=None, help="centre and scale the input columns (saved with the parameters)")
    train.add_argument("-o", "--output", default=None, metavar="PREFIX", help="write PREFIX.params.npz and PREFIX.history.csv (default: the kernel's name)")
    train.add_argument("--checkpoint", default=None, type=Path, metavar="FILE", help="where an interrupted run saves its state (default PREFIX.checkpoint.npz; with --resume, the file resumed from)")
    train.add_argument(
        "--resume", default=None, type=Path, metavar="CHECKPOINT",
        help="go on with an interrupted run, with the settings saved in CHECKPOINT; settings given again must match",
    )
    train.add_argument("--trust", action="store_true", default=None, help="run the kernel even if it is not what this symbp emits for its spec (edited by hand, or from another version): its code runs as you")
    train.add_argument(
        "--dask", nargs="?", const="", default=None, metavar="ADDRESS",
        help="train on a Dask cluster: the data stay partitioned on the workers and only the parameters travel; "
        "no ADDRESS starts a local cluster of 2 workers, tcp://HOST:PORT uses a running scheduler (pip install 'symbp[dask]')",
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar (on a terminal) and no periodic log lines (otherwise)")
    train.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="write the loss and gradient-norm curves (log scale); needs matplotlib: pip install 'symbp[plot]'")
    train.set_defaults(run=_cmd_train)


def _check_parser(sub: argparse._SubParsersAction) -> None:
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


def _trained_arguments(parser: argparse.ArgumentParser, data: str) -> None:
    """The kernel, the saved parameters and the data (described by ``data``): what predict and evaluate read."""
    parser.add_argument("kernel", type=Path, metavar="KERNEL.py", help="the kernel the parameters were trained with")
    parser.add_argument("--params", required=True, type=Path, metavar="P.npz", help="the PREFIX.params.npz that 'symbp train' wrote")
    parser.add_argument("--data", required=True, type=Path, metavar="FILE", help=data)
    parser.add_argument("--trust", action="store_true", help="load the kernel even if it was edited by hand")


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser(
        "predict", help="predictions of a trained network for new inputs",
        description="Predict with a trained network: the inputs are standardised as in training (the standardisation saved "
        "with the parameters) and the predictions come out in the data's units; a classifier gives classes 0/1.",
    )
    _trained_arguments(predict, "the inputs: .csv with a header, .npy or .npz (array X)")
    predict.add_argument("--target", default=None, metavar="NAME", help="columns of the data to leave out (the targets, if the file has them), comma separated")
    predict.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.csv", help="write the predictions here (default: print them)")
    predict.set_defaults(run=_cmd_predict)


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser(
        "evaluate", help="how well a trained network fits data: MSE, R², accuracy, log-loss, confusion matrix",
        description="Evaluate a trained network on data with targets: MSE and R² for regression; accuracy, log-loss and "
        "the confusion matrix for a classifier. The inputs are standardised as in training.",
    )
    _trained_arguments(evaluate, "inputs and targets: .csv with a header, .npy or .npz (arrays X and y)")
    evaluate.add_argument("--target", default=None, metavar="NAME", help="target column(s) of a CSV, comma separated; for .npy a column index (default: last)")
    evaluate.set_defaults(run=_cmd_evaluate)


def _demo_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="derive, emit and train on the diabetes data shipped with symbp")
    demo.add_argument("--out", default="symbp-demo", type=Path, metavar="DIR", help="folder for the results (default symbp-demo/)")
    demo.set_defaults(run=_cmd_demo)


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


def _seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--time-limit must be a number of seconds > 0, not {text[:40]!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"--time-limit must be a number of seconds between 0 and 1e6, not {text[:40]!r}")
    return value


def _fraction_arg(flag: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be a fraction between 0 and 1 (e.g. 0.2), not {text[:40]!r}")
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
    _check_html_path(args.html)
    derivation = derive(spec=_spec(args))
    page = None if args.html is None else _html_page(args, derivation)
    if args.output is None and page is not None and not args.formulas:
        _write_html(args.html, page)  # the page instead of the LaTeX on stdout
        return 0
    if args.formulas:
        text = derivation.latex(expand=args.expand, view=args.view)
    else:
        text = derivation.document(expand=args.expand, view=args.view)
    if args.output is None:
        sys.stdout.write(text)
        _write_html(args.html, page, announce=False)  # stdout holds the formulas alone
        return 0
    if args.pdf:
        from symbp.latex.pdf import compile_pdf

        # The PDF first: if pdflatex is missing or fails, nothing is written.
        pdf = compile_pdf(text, args.output.with_suffix(".pdf"))
    write_text_atomic(args.output, text)
    print(args.output)
    if args.pdf:
        print(pdf)
    _write_html(args.html, page)
    return 0


def _check_html_path(path: Path | None) -> None:
    """--html FILE.html: a file name ending in .html that is not a folder."""
    if path is not None and path.suffix != ".html":
        raise UserError(f"--html {path}: the page's file must end in .html")
    if path is not None and path.is_dir():
        raise UserError(f"--html {path}: {path} is a folder")


def _html_page(args: argparse.Namespace, derivation) -> str:
    """The derivation as one web page with MathML (symbp.html.page)."""
    from symbp.html.page import render_page

    return render_page(derivation, expand=args.expand, view=args.view)


def _write_html(path: Path | None, page: str | None, announce: bool = True) -> None:
    """The web page written atomically and (``announce``) its path printed; nothing without --html."""
    from symbp.files import write_text_atomic

    if path is not None and page is not None:
        write_text_atomic(path, page)
        if announce:
            print(path)


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
    from symbp.session import SessionRequest, train_session

    if args.dask is not None:
        import logging

        # A lost scheduler or worker is reported in one line below; Dask's own error logs (reconnection
        # attempts, tracebacks) would make it many.
        logging.disable(logging.ERROR)

    outcome = train_session(
        SessionRequest(
            kernel=args.kernel, data=args.data, target=args.target, steps=args.steps, step_size=args.step_size,
            batch_size=args.batch_size, seed=args.seed, tol=args.tol, patience=args.patience,
            validation=args.validation, validation_data=args.validation_data,
            divergence_factor=args.divergence_factor, standardize=args.standardize, output=args.output,
            checkpoint=args.checkpoint, resume=args.resume, trust=args.trust, dask=args.dask, progress=not args.quiet,
            plot=args.plot,
        )
    )
    return _report_training(outcome)


def _report_training(outcome: SessionResult) -> int:
    """Print what a training session did: one line on stdout (and one on stderr for a late signal); the exit status."""
    import shlex

    from symbp.training.state import StopReason

    result, checkpoint = outcome.run, outcome.checkpoint_path
    resume = f"symbp train {shlex.quote(str(outcome.kernel_path))} --resume {shlex.quote(str(checkpoint))}"
    if outcome.failure or (outcome.interrupted and not outcome.checkpoint_written):
        what = outcome.failure if result.reason is StopReason.UNAVAILABLE else f"its outputs could not be written ({outcome.failure})"
        if not outcome.checkpoint_written:
            print(one_line(f"symbp: error: after {result.steps} steps {what}, and no checkpoint could be written either; "
                           "nothing was written and the run is lost"), file=sys.stderr)
            return EXIT_LOST
        print(one_line(f"symbp: error: after {result.steps} steps {what}; the run's state is kept in the checkpoint "
                       f"{checkpoint}; resume with: {resume}"), file=sys.stderr)
        return EXIT_KEPT
    if outcome.interrupted:
        print(
            f"symbp: {outcome.signal.name} after {result.steps} of {outcome.record.settings.steps} steps: checkpoint in {checkpoint}; "
            f"resume with: {resume}"
        )
        return 128 + outcome.signal  # 130 for SIGINT, 143 for SIGTERM, as shells report them
    if outcome.signal is not None:
        print(f"symbp: {outcome.signal.name} came after the last step; the run's outputs are written in full", file=sys.stderr)
    params_path, history_path = outcome.params_path, outcome.history_path
    final = result.final_loss if outcome.final_loss is None else outcome.final_loss
    if result.reason is StopReason.DIVERGED:
        if len(result.history) == 1:  # nothing finite to keep: the start itself
            print(f"diverged at the start, exit status 1: {result.detail}; saved the starting parameters in {params_path}, history in {history_path}; check the data (try --standardize)")
            return 1
        print(
            f"diverged, exit status 1: {result.detail}; saved {'the best parameters seen' if result.best_step is not None else 'the last finite parameters'}, after {result.steps} steps "
            f"with loss R = {final:.6g}, in {params_path}, history in {history_path}; "
            f"try a smaller --step-size, or --step-size armijo"
        )
        return 1
    ran = result.history[-1].step
    print(f"{ran} steps, final loss R = {final:.6g}, stopped: {result.reason.value}; parameters in {params_path}, history in {history_path}"
          + _how_measured(outcome))
    return 0


def _how_measured(outcome: SessionResult) -> str:
    """What the summary's R is when the history's last loss is not it: mini-batches, validation data."""
    result, settings = outcome.run, outcome.record.settings
    said = ""
    if not settings.full_batch(outcome.n_train):
        epoch = -(-outcome.n_train // settings.batch_size)
        which = "" if outcome.validation_loss is not None else f", those of step {result.steps} where it was lowest,"
        said += (f" (R of the saved parameters{which} on all {outcome.n_train} training rows; the history's batch_loss is each "
                 f"step's mini-batch, its full_loss R on all rows once an epoch, every {epoch} steps)")
    if outcome.validation_loss is not None:
        said += (f"; saved: the parameters of step {result.steps}, where the loss on the {outcome.n_validation} validation rows "
                 f"was lowest ({outcome.validation_loss:.6g}); R above is theirs, on the {outcome.n_train} training rows")
    return said


def _trained(args: argparse.Namespace):
    from symbp.kernel.load import load_kernel
    from symbp.prediction import Trained

    return Trained.load(load_kernel(args.kernel, trust=args.trust), args.params)


def _targets(text: str | None) -> str | list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    return names[0] if len(names) == 1 else names


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from symbp.data import load_inputs
    from symbp.files import check_outputs, write_text_atomic

    if args.output is not None:  # before any work: the predictions must not replace what they are made from
        check_outputs({"-o": args.output}, {"KERNEL.py": args.kernel, "--params": args.params, "--data": args.data})
    trained = _trained(args)
    data = load_inputs(args.data, _targets(args.target))
    predictions = np.asarray(trained.predict(data.X, source=str(args.data)))
    if trained.is_softmax:  # the class, then the probability of every class
        probabilities = trained.outputs(data.X, source=str(args.data))
        header = ",".join(["class", *(f"p_{name}" for name in trained.class_names())])
        rows = [",".join([str(label), *(repr(float(v)) for v in row)]) for label, row in zip(predictions, probabilities)]
    else:
        columns = predictions.reshape(len(predictions), -1)
        header = "prediction" if columns.shape[1] == 1 else ",".join(f"prediction{k + 1}" for k in range(columns.shape[1]))
        rows = [",".join(repr(float(v)) for v in row) for row in columns]
    text = "\n".join([header, *rows]) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    print(write_text_atomic(args.output, text))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from symbp.data import load
    from symbp.prediction import evaluate

    trained = _trained(args)
    targets = _targets(args.target)
    # A softmax classifier's one target column holds class labels, encoded with the classes it was trained with.
    labels = trained.class_names() if trained.is_softmax and isinstance(targets, str) else False
    data = load(args.data, targets, check_targets=False, labels=labels)
    for line in evaluate(trained.kernel, trained, data.X, data.y).lines():
        print(line)
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
        f"  trained on standardised inputs and target (y - {result.y_mean:.4g}) / {result.y_scale:.4g}; "
        "every R here, in the history and in the plot is on that scale"
    )
    print(
        f"  {result.steps} Armijo steps ({result.reason}): loss R = {result.final_loss:.6g} "
        f"vs {result.mean_loss:.6g} for the mean-only predictor ({result.final_loss / result.mean_loss:.1%} of it)"
    )
    return 0


#: The commands that derive, each run under one time limit (``--time-limit``).
LIMITED_COMMANDS = ("derive", "emit", "check")
#: The longest message printed: the start says what is wrong, the end what is allowed.
MAX_MESSAGE = 600


def one_line(message: str) -> str:
    """A message as one line of at most :data:`MAX_MESSAGE` characters: control characters escaped, a long middle cut.

    Example:
        >>> len(one_line("x" * 10_000)) <= MAX_MESSAGE
        True
    """
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in message)
    if len(text) <= MAX_MESSAGE:
        return text
    return f"{text[:400]} [... {len(text) - 550} characters ...] {text[-150:]}"


def _run_limited(args: argparse.Namespace, cap_memory: bool) -> int:
    """A deriving command under its time limit, with the same answers to mistakes as :func:`main`."""
    from symbp.limits import command_limit

    try:
        with command_limit(args.time_limit, f"symbp {args.command}", cap_memory=cap_memory):
            return args.run(args)
    except UserError as err:
        print(f"symbp: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("symbp: error: ran out of memory: the expression or network is too large for this machine; nothing was written", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("symbp: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: the arguments; None reads the process's own (``sys.argv``): the process is then the
            command's, and a deriving command runs in a child with its memory capped, ended even
            inside C code when it overruns its time limit (see :func:`symbp.limits.supervised`).
    """
    try:
        args = build_parser().parse_args(argv)
        if args.command in LIMITED_COMMANDS:
            from symbp.limits import limit_message, supervised

            what = f"symbp {args.command}"
            if argv is None:  # the process is the command's: a hard stop, by a supervising parent
                return supervised(lambda: _run_limited(args, cap_memory=True), args.time_limit, limit_message(what, args.time_limit))
            return _run_limited(args, cap_memory=False)
        return args.run(args)
    except UserError as err:
        print(f"symbp: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("symbp: error: ran out of memory: the expression, network or data is too large for this machine; nothing was written", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("symbp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
