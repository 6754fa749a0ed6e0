"""Judging a formula against the derived gradient: the verdict, and a counterexample where it is wrong.

The formula and the derived component are evaluated for every component of a
small network at several random points.  When they differ, the judge tries, in
this order, what the mistake may be: a constant factor (the sign, when it is −1),
a forgotten bias, one quantity of the notation in place of another, a forgotten
L2 penalty.  Then it looks for a counterexample with the smallest sizes and
one-decimal values.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import sympy as sp

from symbp.checker.evaluate import IndexNotationEvaluator
from symbp.checker.network import network_for
from symbp.checker.notation import OUTPUT, SAMPLE, Notation
from symbp.checker.verdict import Counterexample, Verdict
from symbp.errors import InternalError
from symbp.spec.functions import X
from symbp.symbolic.model import LAMBDA, Layer, drop_output_sums

#: Random points per comparison, and the tolerance of "equal" (relative, and absolute relative to the largest value).
POINTS = 4
RTOL = 1e-7
ATOL = 1e-9
#: Replacements tried at most for a wrong quantity.
MAX_REPLACEMENTS = 600
#: Draws of one-decimal values per size combination tried for a counterexample.
COUNTEREXAMPLE_POINTS = 24


class Judge:
    """The numeric comparison of formulas with the derived component of one parameter.

    Args:
        notation: the notation of the spec.
        param: the parameter, already checked (:meth:`Notation.parameter`).

    Example:
        >>> from symbp.checker.notation import notation_for
        >>> from symbp.checker.reader import read
        >>> from symbp.spec.network import make_spec
        >>> notation = notation_for(make_spec(hidden=3, sigma="tanh"))
        >>> Judge(notation, "b1").classify(read(notation, "sum(2*(f[i]-y[i]), i)", "b1"))
        (<Verdict.CORRECT: 'correct'>, None, 'it equals the derived gradient')
    """

    def __init__(self, notation: Notation, param: str) -> None:
        self.notation = notation
        self.param = param
        spec = notation.derivation.spec
        self.network = network_for(spec)
        self.symbols = {LAMBDA: spec.l2}
        self.derived = drop_output_sums(notation.derivation.gradient(param), spec.outputs)
        # Evaluated through δ^l (computed layer by layer), which costs the same at any depth;
        # the written-out form nests one sum per layer, which the evaluator would go through term by term.
        self.backprop = drop_output_sums(notation.derivation.parameters[param].backprop, spec.outputs)
        self.sizes = self.network.check_sizes()
        self.values = self.network.draw(self.sizes, POINTS, np.random.default_rng(20240617), rounded=False)
        self.evaluate = self.evaluator(self.values)
        self.expected = self.evaluate(self.backprop)
        self.component = notation.model.component(param)
        self.allowed = set(self.component.indices) | ({OUTPUT} if notation.single_output else set())

    def evaluator(self, values: dict[str, np.ndarray], sizes: dict[sp.Symbol, int] | None = None) -> IndexNotationEvaluator:
        """An evaluator on these data and parameters (the forward pass run on them), by default at the check's sizes."""
        sizes = sizes or self.sizes
        _, env = self.network.components(self.param, sizes)
        arrays = self.network.run_backward(self.network.run_forward(values), sizes, self.symbols)
        return IndexNotationEvaluator(arrays, sizes, env, self.symbols)

    def agrees(self, user: sp.Expr) -> bool:
        """The formula equals the derived gradient at the random points."""
        return agree(self.evaluate(user), self.expected)

    def classify(self, user: sp.Expr) -> tuple[Verdict, sp.Expr | None, str]:
        """The verdict, the factor (for a constant factor or the sign) and the one-line detail."""
        values = self.evaluate(user)
        if agree(values, self.expected):
            return Verdict.CORRECT, None, "it equals the derived gradient"
        factor = constant_ratio(values, self.expected)
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
            return Verdict.WRONG, None, f"it leaves out the derivative of the L2 penalty, {text} (lam = {self.symbols[LAMBDA]:g})"
        return Verdict.WRONG, None, "it is not the gradient, and no constant factor, forgotten bias or single swapped quantity explains the difference"

    def factor_verdict(self, factor: sp.Expr) -> tuple[Verdict, sp.Expr, str]:
        """The verdict for a formula that is ``factor`` times the gradient, with a hint at the likely slip."""
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
            if not agree(evaluate(user), evaluate(self.backprop)):
                continue
            where = self.bias_fix(user, layer)
            if where is None and user.has(layer.b):
                continue  # the bias is written, and adding it to no sum fixes the formula: something else is wrong
            place = f" in {where}" if where else ""
            return f"looks like it forgets the bias {name}{place}: it equals the gradient when {name} = 0"
        return None

    def bias_fix(self, user: sp.Expr, layer: Layer) -> str | None:
        """The written-out sum Σ_v W^l[u,v]·(…)[v] that, with b^l[u] added, makes the formula right."""
        sums = []
        for path, node, _ in _subexpressions(user):
            if isinstance(node, sp.Sum) and len(node.limits) == 1:
                var = node.limits[0][0]
                rows = {a.indices[0] for a in node.function.atoms(sp.Indexed) if a.base == layer.W and a.indices[1] == var}
                if len(rows) == 1:
                    sums.append((path, node, rows.pop()))
        for path, node, unit in sums:
            if self.agrees(_replace_at(user, path, node + layer.b[unit])):
                return self.notation.printer.doprint(node)
        if len(sums) > 1 and self.agrees(_replace_paths(user, {path: node + layer.b[unit] for path, node, unit in sums})):
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
        occurrences = [(path, node, scope, factor) for path, node, scope, factor in _array_occurrences(user)]
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
        """Where the formula and the gradient differ at these sizes and values (``clear``: by 1 % and 0.001 at least), or None."""
        evaluate = self.evaluator(values, sizes)
        mine, theirs = evaluate(user), evaluate(self.backprop)
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


def _subexpressions(expr: sp.Expr, path: tuple[int, ...] = (), scope: frozenset = frozenset()) -> Iterator[tuple[tuple[int, ...], sp.Expr, frozenset]]:
    """Every subexpression with its path (argument positions) and the indices bound by the sums around it."""
    yield path, expr, scope
    if isinstance(expr, sp.Indexed) or not expr.args:
        return
    if isinstance(expr, sp.Sum):
        yield from _subexpressions(expr.function, path + (0,), scope | {limit[0] for limit in expr.limits})
        return
    for position, arg in enumerate(expr.args):
        yield from _subexpressions(arg, path + (position,), scope)


def _array_occurrences(expr: sp.Expr) -> Iterator[tuple[tuple[int, ...], sp.Indexed, set, bool]]:
    """Every array occurrence: path, the Indexed, the bound indices in scope, whether it is a factor of a product."""
    parents = {path: node for path, node, _ in _subexpressions(expr)}
    for path, node, scope in _subexpressions(expr):
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


def agree(user: np.ndarray, derived: np.ndarray) -> bool:
    """Equal everywhere within RTOL, and ATOL relative to the largest value; never where either is not finite."""
    if not (np.all(np.isfinite(user)) and np.all(np.isfinite(derived))):
        return False
    scale = max(float(np.max(np.abs(derived), initial=0.0)), float(np.max(np.abs(user), initial=0.0)), 1e-300)
    return bool(np.all(np.abs(user - derived) <= RTOL * np.abs(derived) + ATOL * scale))


def constant_ratio(user: np.ndarray, derived: np.ndarray) -> sp.Expr | None:
    """user / derived when it is one nonzero constant for every component and point."""
    if not (np.all(np.isfinite(user)) and np.all(np.isfinite(derived))):
        return None
    large = np.abs(derived) > 1e-6 * float(np.max(np.abs(derived), initial=0.0))
    if not large.any():
        return None
    ratio = float(np.median(user[large] / derived[large]))
    if abs(ratio) < 1e-9 or not agree(user, ratio * derived):
        return None
    nice = sp.nsimplify(ratio, [sp.pi, sp.E], tolerance=1e-8 * abs(ratio))
    return nice if sp.count_ops(nice) <= 4 else sp.Float(ratio, 6)
