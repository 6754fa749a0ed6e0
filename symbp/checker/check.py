"""Checking a hand-derived gradient formula against the derived one.

A student writes one generic component of a gradient in a small text notation
(the README, "Checking a hand-derived gradient"), e.g. for ∂R/∂W²_{mj} with one hidden layer::

    sum(-2*(y[i]-f[i])*W1[m]*h[i,m]*(1-h[i,m])*x[i,j], i)

:func:`check` reads it with :mod:`symbp.checker.reader` (Python's ``ast`` against a
whitelist; nothing typed is ever evaluated), then

1. evaluates it and the derived gradient for every component of small concrete
   sizes at several random points, the forward pass done in NumPy
   (:mod:`~symbp.checker.network`, :mod:`~symbp.checker.evaluate`);
2. when they differ, says what the mistake looks like: a constant factor, the
   sign, a forgotten bias, one quantity of the notation in place of another
   (:mod:`~symbp.checker.judge`);
3. simplifies the difference in index notation (:mod:`~symbp.checker.difference`)
   and looks for a counterexample with the smallest sizes and one-decimal values.

Numbers decide; SymPy's simplified difference is shown, and when it is 0 the
agreement is confirmed symbolically as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.checker.difference import difference
from symbp.checker.judge import POINTS, Judge
from symbp.checker.notation import notation_for
from symbp.checker.reader import read
from symbp.checker.verdict import Counterexample, Verdict
from symbp.latex.formulas import tex
from symbp.spec.network import Spec, make_spec

__all__ = ["CheckResult", "Counterexample", "Verdict", "check"]


@dataclass(frozen=True)
class CheckResult:
    """The answer of :func:`check`.

    Attributes:
        correct: the formula equals the derived gradient.
        verdict: what it looks like (:class:`Verdict`).
        factor: yours / derived for CONSTANT_FACTOR and SIGN, else None.
        detail: one line saying what it looks like.
        difference: yours − derived in index notation, simplified as far as SymPy got in time.
        difference_latex: the same in LaTeX; difference_text: in the notation of the formulas.
        counterexample: sizes and values where the two differ (None when correct).
        formula: the formula as typed; param: W1, b1, …; component: e.g. ``"W2[m,j]"``.
        derived: the derived component in index notation; derived_text, derived_latex: printed.
        symbolic: SymPy reduces the difference to 0.
        tested: the sizes of the numeric comparison, e.g. ``{"n": 3, "p": 2, "M": 3, "d": 1}``.
        definitions: the forward pass in the notation (a[i,m] = …, h[i,m] = sigma(a[i,m]), …).
        spec: the network.
    """

    correct: bool
    verdict: Verdict
    factor: sp.Expr | None
    detail: str
    difference: sp.Expr
    difference_latex: str
    difference_text: str
    counterexample: Counterexample | None
    formula: str
    param: str
    component: str
    derived: sp.Expr
    derived_text: str
    derived_latex: str
    symbolic: bool
    tested: dict[str, int]
    definitions: tuple[str, ...]
    spec: Spec

    def report(self) -> str:
        """The answer for a human: the derived formula, the verdict, the difference, a counterexample."""
        lines = [
            f"dR/d{self.component} for {self.spec.describe()}",
            f"derived:    {self.derived_text}",
            f"            where {'; '.join(self.definitions)}",
            f"yours:      {self.formula}",
            f"verdict:    {self.verdict.value.upper()}: {self.detail}",
        ]
        if self.correct:
            tested = ", ".join(f"{key} = {value}" for key, value in self.tested.items())
            symbolic = "SymPy reduces the difference to 0" if self.symbolic else f"SymPy leaves the difference as {self.difference_text}"
            lines.append(f"checked:    every component at {POINTS} random points ({tested}); {symbolic}")
            return "\n".join(lines)
        lines.append(f"difference: yours - derived = {self.difference_text}")
        if self.counterexample is not None:
            lines += self.counterexample.lines()
        return "\n".join(lines)


def check(formula: str, param: str, *, spec: Spec | None = None, **spec_kwargs: object) -> CheckResult:
    """Check a hand-derived formula for one generic component of ∂R/∂``param``.

    Args:
        formula: the component in the notation of the README, "Checking a hand-derived gradient", e.g.
            ``"sum(-2*(y[i]-f[i])*h[i,m], i)"`` for W1.
        param: W1, b1, W2, b2, … (one of the spec's parameters).
        spec: the network; or the arguments of :func:`symbp.make_spec`
            (hidden, sigma, g, inputs, outputs, loss, l2, reduction, dtype) as keywords.

    Returns:
        A :class:`CheckResult`; ``result.report()`` is the human-readable answer.

    Raises:
        SpecError: an unknown parameter, or a bad spec.
        ExpressionError: a formula that cannot be read, with one line saying why.

    Example:
        >>> check("sum(-2*(y[i]-f[i])*h[i,m], i)", "W1", hidden=3, sigma="tanh").verdict
        <Verdict.CORRECT: 'correct'>
    """
    if spec is not None and spec_kwargs:
        raise TypeError("give either spec or the arguments of make_spec, not both")
    spec = spec if spec is not None else make_spec(**spec_kwargs)  # type: ignore[arg-type]
    notation = notation_for(spec)
    name = notation.parameter(param)
    user = read(notation, formula, name)
    judge = Judge(notation, name)
    verdict, factor, detail = judge.classify(user)
    named = read(notation, formula, name, named=True)
    correct = verdict is Verdict.CORRECT
    yours_minus_derived = difference(named, judge.derived, notation, equal=correct)
    printer = notation.printer
    return CheckResult(
        correct=correct,
        verdict=verdict,
        factor=factor,
        detail=detail,
        difference=yours_minus_derived,
        difference_latex=tex(yours_minus_derived, notation.derivation),
        difference_text=printer.doprint(yours_minus_derived),
        counterexample=None if correct else judge.counterexample(user),
        formula=formula.strip(),
        param=name,
        component=printer.doprint(notation.model.component(name)),
        derived=judge.derived,
        derived_text=printer.doprint(judge.derived),
        derived_latex=tex(judge.derived, notation.derivation),
        symbolic=yours_minus_derived == 0,
        tested=judge.network.sizes_named(judge.sizes),
        definitions=notation.definitions(),
        spec=spec,
    )
