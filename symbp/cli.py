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
from symbp.expressions import ACTIVATIONS, OUTPUTS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", "-M", default="3", metavar="M", help="number of hidden units M, a positive integer (default 3)")
    parser.add_argument(
        "--sigma",
        default="tanh",
        metavar="SIGMA",
        help=f"activation: {', '.join(ACTIVATIONS)}, or an expression in x such as 'x/(1+exp(-x))' (default tanh)",
    )
    parser.add_argument(
        "--g", default="identity", metavar="G", help=f"output function: {', '.join(OUTPUTS)}, or an expression in x (default identity)"
    )
    parser.add_argument("--inputs", "-p", default=None, metavar="P", help="input size p (default: symbolic)")
    parser.add_argument("--outputs", "-d", default="1", metavar="D", help="output size d (default 1)")


def _spec(args: argparse.Namespace):
    from symbp.spec import make_spec

    return make_spec(hidden=args.hidden, sigma=args.sigma, g=args.g, inputs=args.inputs, outputs=args.outputs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbp", description="Backpropagation derived by SymPy: LaTeX derivations and NumPy gradient kernels.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    derive = sub.add_parser("derive", help="derive the gradients of R and print them as a LaTeX document")
    _spec_arguments(derive)
    derive.add_argument("--expand", action="store_true", help="also write every component for the given M and p (needs --inputs, M·p ≤ 50)")
    derive.add_argument("-o", "--output", type=Path, metavar="FILE.tex", help="write the document here instead of stdout")
    derive.add_argument("--pdf", action="store_true", help="also compile FILE.pdf next to FILE.tex with pdflatex (needs -o)")
    derive.add_argument("--formulas", action="store_true", help="print only the gradient formulas (an align* block), not a whole document")
    derive.set_defaults(run=_cmd_derive)
    return parser


def _cmd_derive(args: argparse.Namespace) -> int:
    from symbp.derive import derive
    from symbp.files import write_text_atomic

    if args.pdf and args.output is None:
        raise UserError("--pdf needs -o FILE.tex: the PDF is written next to the .tex file")
    if args.output is not None and args.output.suffix != ".tex":
        raise UserError(f"-o {args.output}: the output file must end in .tex")
    spec = _spec(args)
    derivation = derive(spec=spec)
    text = derivation.latex(expand=args.expand) if args.formulas else derivation.document(expand=args.expand)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.pdf:
        from symbp.pdf import compile_pdf, pdflatex_path

        if pdflatex_path() is None:
            compile_pdf(text, args.output.with_suffix(".pdf"))  # raises the install hint before anything is written
    write_text_atomic(args.output, text)
    print(args.output)
    if args.pdf:
        pdf = compile_pdf(derivation.document(expand=args.expand), args.output.with_suffix(".pdf"))
        print(pdf)
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
