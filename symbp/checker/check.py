"""Checking a hand-derived gradient formula against the derived one.

A student writes one generic component of a gradient in a small text notation
(the README, "Checking a hand-derived gradient"), e.g. for ∂R/∂W²_{mj} with one hidden layer::

    sum(-2*(y[i]-f[i])*W1[m]*h[i,m]*(1-h[i,m])*x[i,j], i)

:func:`check` reads it with :mod:`symbp.formula` (Python's ``ast`` against a
whitelist; nothing typed is ever evaluated), then

1. evaluates it and the derived gradient for every component of small concrete
   sizes at several random points, the forward pass done in NumPy;
2. when they differ, says what the mistake looks like: a constant factor, the
   sign, a forgotten bias, one quantity of the notation in place of another;
3. simplifies the difference in index notation and looks for a counterexample
   with the smallest sizes and one-decimal values.

Numbers decide; SymPy's simplified difference is shown, and when it is 0 the
agreement is confirmed symbolically as well.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, reduce

import numpy as np
import sympy as sp

from symbp.symbolic import model as mo
from symbp.errors import InternalError
from symbp.spec.functions import X
from symbp.checker.notation import OUTPUT, SAMPLE, Notation, notation_for
from symbp.latex.formulas import tex
from symbp.limits import TimeLimitExceeded, time_limit
from symbp.spec.network import Loss, Spec, make_spec

#: Sizes of the numeric comparison: n samples, p inputs (unless the spec fixes fewer), units per layer at most.
CHECK_SAMPLES = 3
CHECK_INPUTS = 2
MAX_CHECK_UNITS = 3
#: Random points per comparison, and the tolerance of "equal" (relative, and absolute relative to the largest value).
POINTS = 4
RTOL = 1e-7
ATOL = 1e-9
#: Seconds for SymPy to simplify the difference (then for factoring alone); replacements tried at most for a wrong quantity.
SIMPLIFY_TIME_LIMIT = 3.0
QUICK_TIME_LIMIT = 1.0
MAX_REPLACEMENTS = 600
#: Size combinations tried for a counterexample (smallest first), and draws of one-decimal values per combination.
COUNTEREXAMPLE_SIZES = 40
COUNTEREXAMPLE_POINTS = 24


class Verdict(enum.Enum):
    """What the formula looks like compared with the derived gradient."""

    CORRECT = "correct"
    CONSTANT_FACTOR = "constant factor"
    SIGN = "sign"
    WRONG_QUANTITY = "wrong quantity"
    MISSING_BIAS = "missing bias"
    WRONG = "wrong"


@dataclass(frozen=True)
class Counterexample:
    """A small network and data set where the formula and the derived gradient differ.

    Attributes:
        sizes: ``{"n": …, "p": …, "M": …, "d": …}`` (deeper networks: ``M_2``, ``M_3``, …).
        X: the inputs, n × p.
        y: the targets, (n,) with one output, else n × d.
        params: W1 (d × M), b1 (d,), W2 (M × p), b2 (M,), … as in the kernels.
        component: the component that differs, 1-based as in the notation, e.g. ``"W2[1,1]"``.
        index: the same component 0-based, so that ``params[name][index]`` is it.
        user_value: the formula's value there.
        derived_value: the derived gradient's value there.
    """

    sizes: dict[str, int]
    X: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]
    component: str
    index: tuple[int, ...]
    user_value: float
    derived_value: float

    def lines(self) -> list[str]:
        sizes = ", ".join(f"{key} = {value}" for key, value in self.sizes.items())
        arrays = [f"x = {_numbers(self.X)}", f"y = {_numbers(self.y)}"]
        params = [f"{name} = {_numbers(value)}" for name, value in self.params.items()]
        return [
            f"counterexample ({sizes}):",
            "  " + "   ".join(arrays),
            "  " + "   ".join(params),
            f"  dR/d{self.component}: yours = {self.user_value:.4g}, derived = {self.derived_value:.4g}",
        ]


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
        spec: the network; or the arguments of :func:`symbp.spec.make_spec`
            (hidden, sigma, g, inputs, outputs, loss, l2) as keywords.

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
    user = notation.parse(formula, name)
    judge = _Judge(notation, name)
    verdict, factor, detail = judge.classify(user)
    named = notation.parse(formula, name, named=True)
    correct = verdict is Verdict.CORRECT
    difference = _difference(named, judge.derived, notation, equal=correct)
    printer = notation.printer
    return CheckResult(
        correct=correct,
        verdict=verdict,
        factor=factor,
        detail=detail,
        difference=difference,
        difference_latex=tex(difference, notation.derivation),
        difference_text=printer.doprint(difference),
        counterexample=None if correct else judge.counterexample(user),
        formula=formula.strip(),
        param=name,
        component=printer.doprint(notation.model.component(name)),
        derived=judge.derived,
        derived_text=printer.doprint(judge.derived),
        derived_latex=tex(judge.derived, notation.derivation),
        symbolic=difference == 0,
        tested=judge.network.sizes_named(judge.sizes),
        definitions=notation.definitions(),
        spec=spec,
    )


# --- concrete networks in NumPy ---------------------------------------------------------------


@lru_cache(maxsize=32)
def _network(spec: Spec) -> _Network:
    return _Network(notation_for(spec))


class _Network:
    """Concrete sizes, random values and the forward pass in NumPy for one spec: what formulas are evaluated on."""

    def __init__(self, notation: Notation) -> None:
        self.notation = notation
        self.model = notation.model
        self.spec = notation.derivation.spec
        self.forward = {layer.number: sp.lambdify(X, self.model.function_expr(layer), "numpy") for layer in self.model.parameter_layers}

    def check_sizes(self) -> dict[sp.Symbol, int]:
        """The sizes of the numeric comparison: small, but with every layer as wide as the spec up to a few units."""
        spec = self.spec
        sizes = {mo.n: CHECK_SAMPLES, mo.p: min(spec.inputs or CHECK_INPUTS, MAX_CHECK_UNITS)}
        for layer in self.model.parameter_layers:
            sizes[layer.size] = min(spec.size(layer.number), MAX_CHECK_UNITS)
        return sizes

    def small_sizes(self) -> list[dict[sp.Symbol, int]]:
        """Sizes for a counterexample, those with the fewest numbers first (n = 1 first among equals)."""
        largest = self.check_sizes()
        symbols = [mo.n, mo.p, *(layer.size for layer in reversed(self.model.parameter_layers))]
        options = [dict(zip(symbols, values, strict=True)) for values in itertools.product(*(range(1, largest[s] + 1) for s in symbols))]

        def count(sizes: dict[sp.Symbol, int]) -> int:
            shapes = self.shapes(sizes)
            return sum(math.prod(shape[1:]) for shape in shapes.values())

        return sorted(options, key=lambda s: (count(s), s[mo.n]))[:COUNTEREXAMPLE_SIZES]

    def sizes_named(self, sizes: dict[sp.Symbol, int]) -> dict[str, int]:
        order = [mo.n, mo.p, *(layer.size for layer in reversed(self.model.parameter_layers))]
        return {str(s): sizes[s] for s in order}

    def shapes(self, sizes: dict[sp.Symbol, int], points: int = 1) -> dict[str, tuple[int, ...]]:
        """The shape of every array of data and parameters, with a leading axis of points."""
        n, p, d = sizes[mo.n], sizes[mo.p], sizes[self.model.layers[0].size]
        shapes = {"x": (points, n, p), "y": (points, n, d)}
        for layer in self.model.parameter_layers:
            below = self.model.below(layer)
            shapes[f"W{layer.number}"] = (points, sizes[layer.size], sizes[below.size])
            shapes[f"b{layer.number}"] = (points, sizes[layer.size])
        return shapes

    def draw(self, sizes: dict[sp.Symbol, int], points: int, rng: np.random.Generator, rounded: bool) -> dict[str, np.ndarray]:
        """Random data and parameters; ``rounded``: one-decimal values, never 0."""
        values = {}
        for name, shape in self.shapes(sizes, points).items():
            if rounded:
                magnitude = rng.integers(1, 10, shape) / 10
                values[name] = magnitude if (name == "y" and self.bce) else magnitude * rng.choice([-1.0, 1.0], shape)
            elif name == "y" and self.bce:
                values[name] = rng.uniform(0.05, 0.95, shape)
            else:
                values[name] = (1.0 if name == "x" else 0.7) * rng.standard_normal(shape)
        return values

    @property
    def bce(self) -> bool:
        return self.spec.loss is Loss.BCE

    def run_forward(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every array of the notation, the forward pass computed in NumPy."""
        arrays = dict(values)
        post = values["x"]
        with np.errstate(all="ignore"):
            for layer in reversed(self.model.parameter_layers):
                pre = np.einsum("Pnv,Puv->Pnu", post, values[f"W{layer.number}"]) + values[f"b{layer.number}"][:, None, :]
                post = np.broadcast_to(np.asarray(self.forward[layer.number](pre), dtype=float), pre.shape)
                arrays[str(layer.pre.label)] = pre
                arrays[str(layer.post.label)] = post
        return arrays

    def components(self, param: str, sizes: dict[sp.Symbol, int]) -> tuple[list[tuple[int, ...]], dict[sp.Symbol, np.ndarray]]:
        """Every component of the parameter (1-based index tuples), and the index values that pick them."""
        component = self.model.component(param)
        ranges = [range(1, sizes[self.notation.indices[str(ix)][1]] + 1) for ix in component.indices]
        combos = list(itertools.product(*ranges))
        env = {ix: np.array([c[pos] for c in combos]) for pos, ix in enumerate(component.indices)}
        if self.notation.single_output:
            env.setdefault(OUTPUT, np.ones(len(combos), dtype=int))
        return combos, env


def _numbers(values: np.ndarray) -> str:
    """An array as nested lists of short numbers: [[0.3, -1.2]]."""
    if np.ndim(values) == 0:
        return f"{float(values):g}"
    return "[" + ", ".join(_numbers(v) for v in values) + "]"


# --- evaluating formulas numerically ----------------------------------------------------------

_UFUNCS: dict[type, Callable[..., np.ndarray]] = {
    sp.exp: np.exp,
    sp.log: np.log,
    sp.tanh: np.tanh,
    sp.sinh: np.sinh,
    sp.cosh: np.cosh,
    sp.sin: np.sin,
    sp.cos: np.cos,
    sp.atan: np.arctan,
    sp.Abs: np.abs,
    sp.sign: np.sign,
    sp.Heaviside: lambda u, *_: np.heaviside(u, 0.5),
    sp.Max: lambda *args: reduce(np.maximum, args),
    sp.Min: lambda *args: reduce(np.minimum, args),
}


class _Evaluator:
    """Evaluates an expression in index notation for many components and points at once.

    Every array has a leading axis of points; the free indices of the component
    are integer arrays (one entry per component), so that each value is an
    array of points × components.  Sums are loops over their indices.
    """

    def __init__(self, arrays: dict[str, np.ndarray], sizes: dict[sp.Symbol, int], env: dict[sp.Symbol, np.ndarray], symbols: dict[sp.Symbol, float]) -> None:
        self.arrays = arrays
        self.sizes = sizes
        self.env = env
        self.symbols = symbols
        points = next(iter(arrays.values())).shape[0]
        self.shape = (points, len(next(iter(env.values()))) if env else 1)

    def __call__(self, expr: sp.Expr) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(self.value(expr, self.env), dtype=float), self.shape)

    def value(self, expr: sp.Expr, env: dict[sp.Symbol, np.ndarray]) -> np.ndarray | float:
        if expr.is_Number or isinstance(expr, sp.NumberSymbol):
            try:
                return float(expr)
            except OverflowError:
                return math.inf if expr > 0 else -math.inf
        if isinstance(expr, sp.Symbol):
            if expr not in self.symbols:
                raise InternalError(f"no value for the symbol {expr} in a formula")
            return self.symbols[expr]
        if isinstance(expr, sp.Indexed):
            array = self.arrays[str(expr.base.label)]
            return array[(slice(None), *(env[ix] - 1 for ix in expr.indices))]
        if isinstance(expr, sp.Sum):
            variables = [limit[0] for limit in expr.limits]
            ranges = [range(int(_size(lo, self.sizes)), int(_size(hi, self.sizes)) + 1) for _, lo, hi in expr.limits]
            width = self.shape[1]
            total: np.ndarray | float = 0.0
            for values in itertools.product(*ranges):
                inner = env | {v: np.full(width, value) for v, value in zip(variables, values, strict=True)}
                total = total + self.value(expr.function, inner)
            return total
        if not isinstance(expr, (sp.Add, sp.Mul, sp.Pow)) and expr.func not in _UFUNCS and not expr.has(sp.Sum):
            return self.compiled(expr, env)
        args = [self.value(arg, env) for arg in expr.args]
        if isinstance(expr, sp.Add):
            return reduce(np.add, args)
        if isinstance(expr, sp.Mul):
            return reduce(np.multiply, args)
        if isinstance(expr, sp.Pow):
            return np.power(args[0], args[1])
        if expr.func in _UFUNCS:
            return _UFUNCS[expr.func](*args)
        return _compiled(expr.func, len(args))(*args)

    def compiled(self, expr: sp.Expr, env: dict[sp.Symbol, np.ndarray]) -> np.ndarray | float:
        """A subexpression without sums that is not built from the usual functions (a Piecewise, …), through lambdify."""
        function, atoms = _compiled_whole(expr)
        return function(*(self.value(atom, env) for atom in atoms))


def _size(bound: sp.Expr, sizes: dict[sp.Symbol, int]) -> int:
    return int(bound.xreplace(sizes))


@lru_cache(maxsize=64)
def _compiled(func: type, count: int) -> Callable[..., np.ndarray]:
    """Any other function of sums SymPy may produce (erf, …), through lambdify."""
    dummies = sp.symbols(f"_u0:{count}", real=True)
    return sp.lambdify(dummies, func(*dummies), "numpy")


@lru_cache(maxsize=256)
def _compiled_whole(expr: sp.Expr) -> tuple[Callable[..., np.ndarray], tuple[sp.Expr, ...]]:
    """A subexpression without sums as a function of its arrays (and λ), through lambdify."""
    atoms = tuple(sorted(expr.atoms(sp.Indexed), key=str)) + ((mo.LAMBDA,) if expr.has(mo.LAMBDA) else ())
    dummies = sp.symbols(f"_u0:{len(atoms)}", real=True)
    return sp.lambdify(dummies, expr.xreplace(dict(zip(atoms, dummies, strict=True))), "numpy"), atoms


def _agree(user: np.ndarray, derived: np.ndarray) -> bool:
    if not (np.all(np.isfinite(user)) and np.all(np.isfinite(derived))):
        return False
    scale = max(float(np.max(np.abs(derived), initial=0.0)), float(np.max(np.abs(user), initial=0.0)), 1e-300)
    return bool(np.all(np.abs(user - derived) <= RTOL * np.abs(derived) + ATOL * scale))


def _constant_ratio(user: np.ndarray, derived: np.ndarray) -> sp.Expr | None:
    """user / derived when it is one nonzero constant for every component and point."""
    if not (np.all(np.isfinite(user)) and np.all(np.isfinite(derived))):
        return None
    large = np.abs(derived) > 1e-6 * float(np.max(np.abs(derived), initial=0.0))
    if not large.any():
        return None
    ratio = float(np.median(user[large] / derived[large]))
    if abs(ratio) < 1e-9 or not _agree(user, ratio * derived):
        return None
    nice = sp.nsimplify(ratio, [sp.pi, sp.E], tolerance=1e-8 * abs(ratio))
    return nice if sp.count_ops(nice) <= 4 else sp.Float(ratio, 6)


# --- judging ----------------------------------------------------------------------------------


class _Judge:
    """The numeric comparison of formulas with the derived component of one parameter."""

    def __init__(self, notation: Notation, param: str) -> None:
        self.notation = notation
        self.param = param
        spec = notation.derivation.spec
        self.network = _network(spec)
        self.symbols = {mo.LAMBDA: spec.l2}
        self.derived = mo.drop_output_sums(notation.derivation.parameters[param].direct, spec.outputs)
        self.sizes = self.network.check_sizes()
        self.values = self.network.draw(self.sizes, POINTS, np.random.default_rng(20240617), rounded=False)
        self.evaluate = self.evaluator(self.values)
        self.expected = self.evaluate(self.derived)
        self.component = notation.model.component(param)
        self.allowed = set(self.component.indices) | ({OUTPUT} if notation.single_output else set())

    def evaluator(self, values: dict[str, np.ndarray], sizes: dict[sp.Symbol, int] | None = None) -> _Evaluator:
        sizes = sizes or self.sizes
        _, env = self.network.components(self.param, sizes)
        return _Evaluator(self.network.run_forward(values), sizes, env, self.symbols)

    def agrees(self, user: sp.Expr) -> bool:
        return _agree(self.evaluate(user), self.expected)

    def classify(self, user: sp.Expr) -> tuple[Verdict, sp.Expr | None, str]:
        """The verdict, the factor (for a constant factor or the sign) and the one-line detail."""
        values = self.evaluate(user)
        if _agree(values, self.expected):
            return Verdict.CORRECT, None, "it equals the derived gradient"
        factor = _constant_ratio(values, self.expected)
        if factor is not None:
            return self.factor_verdict(factor)
        missing = self.missing_bias(user)
        if missing is not None:
            return Verdict.MISSING_BIAS, None, missing
        quantity = self.wrong_quantity(user)
        if quantity is not None:
            return Verdict.WRONG_QUANTITY, None, quantity
        penalty = self.notation.derivation.parameters[self.param].penalty
        if penalty != 0 and self.agrees(user + penalty):
            text = self.notation.printer.doprint(penalty)
            return Verdict.WRONG, None, f"it leaves out the derivative of the L2 penalty, {text} (lam = {self.symbols[mo.LAMBDA]:g})"
        return Verdict.WRONG, None, "it is not the gradient, and no constant factor, forgotten bias or single swapped quantity explains the difference"

    def factor_verdict(self, factor: sp.Expr) -> tuple[Verdict, sp.Expr, str]:
        if factor == -1:
            return Verdict.SIGN, factor, "it has the wrong sign: it is -1 times the gradient (f - y and y - f swapped?)"
        text = self.notation.printer.doprint(factor)
        size = abs(factor)
        if size.is_Rational and size.p == 1:
            hint = f"it looks like it misses a factor {size.q}"
        elif size.is_Integer:
            hint = f"it has a factor {size} too many"
        else:
            hint = "a constant factor is off"
        sign = " and has the wrong sign" if factor < 0 else ""
        return Verdict.CONSTANT_FACTOR, factor, f"it is {text} times the gradient: {hint}{sign}"

    def missing_bias(self, user: sp.Expr) -> str | None:
        """"looks like it forgets the bias b2 …" when the formula is right once that bias is 0, or once it is added back."""
        model = self.notation.model
        for layer in reversed(model.parameter_layers):
            name = f"b{layer.number}"
            zeroed = {key: (np.zeros_like(v) if key == name else v) for key, v in self.values.items()}
            evaluate = self.evaluator(zeroed)
            if not _agree(evaluate(user), evaluate(self.derived)):
                continue
            where = self.bias_fix(user, layer)
            if where is None and user.has(layer.b):
                continue  # the bias is written, and adding it to no sum fixes the formula: something else is wrong
            place = f" in {where}" if where else ""
            return f"looks like it forgets the bias {name}{place}: it equals the gradient when {name} = 0"
        return None

    def bias_fix(self, user: sp.Expr, layer: mo.Layer) -> str | None:
        """The written-out sum Σ_v W^l[u,v]·(…)[v] that, with b^l[u] added, makes the formula right."""
        sums = []
        for path, node, _ in _walk(user):
            if isinstance(node, sp.Sum) and len(node.limits) == 1:
                var = node.limits[0][0]
                rows = {a.indices[0] for a in node.function.atoms(sp.Indexed) if a.base == layer.W and a.indices[1] == var}
                if len(rows) == 1:
                    sums.append((path, node, rows.pop()))
        for path, node, unit in sums:
            if self.agrees(_replace_at(user, path, node + layer.b[unit])):
                return self.notation.printer.doprint(node)
        if len(sums) > 1:
            if self.agrees(_replace_paths(user, {path: node + layer.b[unit] for path, node, unit in sums})):
                return " and ".join(self.notation.printer.doprint(node) for _, node, _ in sums)
        return None

    def quantities(self, scope: set[sp.Symbol]) -> list[sp.Expr]:
        """The arrays of the notation (and σ′(a), g′(z)) that can be written with the indices in scope."""
        out = []
        for array in self.notation.arrays.values():
            if all(slot in scope for slot in array.slots):
                out.append(array.base[array.slots])
        for layer in self.notation.model.parameter_layers:
            form = self.notation.derivation.forms[layer.number]
            if form.expr.has(X) and SAMPLE in scope and layer.unit in scope:
                out.append(form.at(layer.pre[SAMPLE, layer.unit], layer.post[SAMPLE, layer.unit]))
        return out

    def wrong_quantity(self, user: sp.Expr) -> str | None:
        """"uses z[i] where h[i,m] belongs" when replacing one quantity (or all its copies) makes the formula right."""
        printer = self.notation.printer
        occurrences = [(path, node, scope, factor) for path, node, scope, factor in _indexed(user)]
        tried = 0
        # One occurrence at a time, then every copy of one quantity together.
        groups: dict[sp.Expr, list] = {}
        for occurrence in occurrences:
            groups.setdefault(occurrence[1], []).append(occurrence)
        trials = [[o] for o in occurrences] + [group for group in groups.values() if len(group) > 1]
        for group in trials:
            node = group[0][1]
            scope = set.intersection(*(self.allowed | s for _, _, s, _ in group))
            candidates = [q for q in self.quantities(scope) if q != node]
            if all(o[3] for o in group):
                candidates.append(sp.Integer(1))
            for candidate in candidates:
                tried += 1
                if tried > MAX_REPLACEMENTS:
                    return None
                replaced = _replace_paths(user, {path: candidate for path, *_ in group})
                if not self.agrees(replaced):
                    continue
                copies = f" ({len(group)} times)" if len(group) > 1 else ""
                if candidate == 1:
                    return f"it has a factor {printer.doprint(node)}{copies} that does not belong there: without it, it equals the gradient"
                return f"it uses {printer.doprint(node)}{copies} where {self.notation.quantity_text(candidate)} belongs"
        return None

    def counterexample(self, user: sp.Expr) -> Counterexample:
        """The smallest sizes, and one-decimal values, where the formula and the gradient clearly differ."""
        rng = np.random.default_rng(7)
        for sizes in self.network.small_sizes():
            found = self.differing(user, sizes, self.network.draw(sizes, COUNTEREXAMPLE_POINTS, rng, rounded=True), clear=True)
            if found is not None:
                return found
        found = self.differing(user, self.sizes, self.values, clear=False)
        if found is None:
            raise InternalError("the formula differs from the gradient, but no component shows it")
        return found

    def differing(self, user: sp.Expr, sizes: dict[sp.Symbol, int], values: dict[str, np.ndarray], clear: bool) -> Counterexample | None:
        evaluate = self.evaluator(values, sizes)
        mine, theirs = evaluate(user), evaluate(self.derived)
        gap = np.where(np.isfinite(mine) & np.isfinite(theirs), np.abs(mine - theirs), np.inf)
        gap = np.where(np.isnan(theirs), 0.0, gap)
        needed = np.maximum(1e-3, 0.01 * np.maximum(np.abs(np.nan_to_num(mine)), np.abs(theirs))) if clear else 0.0
        # A point where a pre-activation is 0 sits on the kink of relu-like functions: σ′ is a matter of convention there.
        kinks = np.zeros(gap.shape[0], dtype=bool)
        for layer in self.notation.model.parameter_layers:
            pre = evaluate.arrays[str(layer.pre.label)]
            kinks |= np.any(np.abs(pre) < 1e-9, axis=tuple(range(1, pre.ndim)))
        differs = (gap > needed) & ~kinks[:, None]
        if not differs.any():
            return None
        point = int(np.argmax(differs.any(axis=1)))
        column = int(np.argmax(np.where(differs[point], gap[point], -1.0)))
        combos, _ = self.network.components(self.param, sizes)
        index = combos[column]
        d = sizes[self.notation.model.layers[0].size]
        y = values["y"][point]
        return Counterexample(
            sizes=self.network.sizes_named(sizes),
            X=values["x"][point].copy(),
            y=(y[:, 0] if d == 1 else y).copy(),
            params={name: values[name][point].copy() for name in self.notation.model.parameters},
            component=f"{self.param}[{','.join(map(str, index))}]",
            index=tuple(v - 1 for v in index),
            user_value=float(mine[point, column]),
            derived_value=float(theirs[point, column]),
        )


def _walk(expr: sp.Expr, path: tuple[int, ...] = (), scope: frozenset = frozenset()) -> Iterator[tuple[tuple[int, ...], sp.Expr, frozenset]]:
    """Every subexpression with its path (argument positions) and the indices bound by the sums around it."""
    yield path, expr, scope
    if isinstance(expr, sp.Indexed) or not expr.args:
        return
    if isinstance(expr, sp.Sum):
        yield from _walk(expr.function, path + (0,), scope | {limit[0] for limit in expr.limits})
        return
    for position, arg in enumerate(expr.args):
        yield from _walk(arg, path + (position,), scope)


def _indexed(expr: sp.Expr) -> Iterator[tuple[tuple[int, ...], sp.Indexed, set, bool]]:
    """Every array occurrence: path, the Indexed, the bound indices in scope, whether it is a factor of a product."""
    parents = {path: node for path, node, _ in _walk(expr)}
    for path, node, scope in _walk(expr):
        if isinstance(node, sp.Indexed):
            parent = parents.get(path[:-1])
            yield path, node, set(scope), isinstance(parent, sp.Mul) and bool(path)


def _replace_at(expr: sp.Expr, path: tuple[int, ...], new: sp.Expr) -> sp.Expr:
    return _replace_paths(expr, {path: new})


def _replace_paths(expr: sp.Expr, replacements: dict[tuple[int, ...], sp.Expr], here: tuple[int, ...] = ()) -> sp.Expr:
    """The expression with the subexpressions at the given paths replaced, all in one rebuild.

    (One at a time would not do: rebuilding a product can reorder its factors and move the other paths.)
    """
    if here in replacements:
        return replacements[here]
    if not any(path[: len(here)] == here for path in replacements):
        return expr
    args = [_replace_paths(arg, replacements, here + (position,)) for position, arg in enumerate(expr.args)]
    return expr.func(*args)


# --- the difference in index notation ---------------------------------------------------------


def _difference(user: sp.Expr, derived: sp.Expr, notation: Notation, equal: bool = False) -> sp.Expr:
    """yours − derived, the sums over the same indices merged and their bodies simplified (within a time limit).

    When the numbers say the two are ``equal`` and SymPy does not get to 0 in the
    named intermediates, it tries once more with h = σ(a), f = g(z) written out.
    """
    penalty = {mo.LAMBDA: mo.penalty_weight(notation.derivation.spec)}
    raw = user.xreplace(penalty) - derived.xreplace(penalty)
    difference = _simplified(raw)
    if equal and difference != 0 and _simplified(_unnamed(raw, notation)) == 0:
        return sp.Integer(0)
    return difference


def _simplified(raw: sp.Expr) -> sp.Expr:
    # sympy.simplify first; if it runs out of time, factoring alone; then only the sums merged.
    for effort, seconds in ((2, SIMPLIFY_TIME_LIMIT), (1, QUICK_TIME_LIMIT)):
        try:
            with time_limit(seconds) as limit:
                return _merged(raw, effort)
        except TimeLimitExceeded as err:
            if err.limit is not limit:
                raise
        except (RecursionError, NotImplementedError, TypeError, ValueError):
            break
    return _merged(raw, 0)


def _unnamed(expr: sp.Expr, notation: Notation) -> sp.Expr:
    """h[i,m] → σ(a[i,m]), f[i] → g(z[i]): the values of the layers in terms of their pre-activations."""
    model = notation.model
    posts = {layer.post: layer for layer in model.parameter_layers}
    mapping = {atom: model.concrete(posts[atom.base], posts[atom.base].pre[atom.indices]) for atom in expr.atoms(sp.Indexed) if atom.base in posts}
    return expr.xreplace(mapping)


def _merged(expr: sp.Expr, effort: int) -> sp.Expr:
    """Σ A − Σ B over the same indices → Σ (A − B), each body as short as SymPy makes it."""
    groups: dict[tuple, list[sp.Expr]] = {}
    rest = []
    for term in sp.Add.make_args(expr):
        coefficient, core = term.as_coeff_Mul()
        core = _flat_sum(core)
        if isinstance(core, sp.Sum):
            limits = tuple(sorted(core.limits, key=str))
            groups.setdefault(limits, []).append(coefficient * core.function)
        else:
            rest.append(term)
    out = [_simplest(sp.Add(*rest), effort)] if rest else []
    for limits, bodies in groups.items():
        body = _simplest(sp.Add(*bodies), effort)
        if body != 0:
            # The sample index outermost, as a formula is written: sum(BODY, i, k).
            out.append(sp.Sum(body, *sorted(limits, key=lambda limit: limit[0] == SAMPLE)))
    return sp.Add(*out)


def _flat_sum(expr: sp.Expr) -> sp.Expr:
    """sum(sum(BODY, k), i) → one sum over k and i."""
    if isinstance(expr, sp.Sum) and isinstance(expr.function, sp.Sum):
        inner = _flat_sum(expr.function)
        if not {limit[0] for limit in inner.limits} & {limit[0] for limit in expr.limits}:
            return sp.Sum(inner.function, *inner.limits, *expr.limits)
    return expr


def _simplest(expr: sp.Expr, effort: int) -> sp.Expr:
    """The shortest form found: ``effort`` 0 as it is, 1 also factored, 2 also sympy.simplify."""
    if effort == 0:
        return expr
    expanded = sp.expand(expr)
    if expanded == 0:
        return sp.Integer(0)
    options = [expr, sp.factor(expanded)]
    if effort > 1 and not expr.has(sp.Sum):
        # simplify's own handling of sums is slow and rarely shorter.
        options.append(sp.simplify(expr))
    return min(options, key=lambda e: (sp.count_ops(e), len(str(e))))
