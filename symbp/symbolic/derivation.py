"""The derivation: SymPy differentiates R; symbp only arranges the result.

Third stage of the pipeline (spec → model → **derivation** → printing →
rendering → files).  Two routes lead to the gradient, and the tests check that
they meet:

* **Direct**: ``sympy.diff(R, W²_{mj})`` of the whole nested loss.  SymPy
  answers with sums over Kronecker deltas, which :func:`collapse` evaluates,
  and with the nested forward pass, which :func:`abbreviate` names a, h, z, f.
* **Chain rule**: each factor ∂R/∂f, ∂f/∂z, ∂z/∂h, ∂h/∂a, ∂a/∂W is obtained
  by differentiating one stage of the model, and the factors are multiplied in
  the backward order of backpropagation (δ¹ then δ²).  The kernels are built
  from this form, because it shares δ¹ between all four gradients.

σ′ and g′ come from ``sympy.diff`` of the spec's σ and g; when SymPy can write
the derivative as a polynomial in the function's own value (tanh′ = 1 − tanh²,
the logistic's σ(1 − σ), exp′ = exp), that form is used, so that the kernels
reuse what the forward pass computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from symbp.symbolic import model as mo
from symbp.errors import ExpressionError, InternalError
from symbp.spec.functions import X, Function
from symbp.limits import TimeLimitExceeded, time_limit
from symbp.spec.network import Spec, make_spec

#: The value of a function, in the value form of its derivative.
VALUE = sp.Symbol("u", real=True)

#: Seconds allowed for the whole derivation of one spec, and for one attempt at a value form.
DERIVATION_TIME_LIMIT = 60.0
VALUE_FORM_TIME_LIMIT = 3.0


@dataclass(frozen=True)
class DerivativeForm:
    """The derivative of σ or g as SymPy computed it.

    Attributes:
        function: the σ or g it is the derivative of.
        expr: the derivative as an expression of :data:`~symbp.expressions.X`.
        value_form: the same derivative as a polynomial in the function's value
            :data:`VALUE` (e.g. ``1 - u**2`` for tanh), or None when there is none.
    """

    function: Function
    expr: sp.Expr
    value_form: sp.Expr | None

    def at(self, argument: sp.Expr, value: sp.Expr) -> sp.Expr:
        """The derivative at ``argument``, written through ``value`` = the function at argument when possible."""
        if self.value_form is not None:
            return self.value_form.xreplace({VALUE: value})
        return self.expr.xreplace({X: argument})


def derivative_form(fn: Function) -> DerivativeForm:
    """Differentiate σ or g with SymPy and look for its value form.

    Example:
        >>> from symbp.spec.functions import activation
        >>> derivative_form(activation("tanh")).value_form
        1 - u**2
    """
    derivative = sp.diff(fn.expr, X)
    return DerivativeForm(function=fn, expr=derivative, value_form=_value_form(fn.expr, derivative))


@lru_cache(maxsize=256)
def _value_form(expr: sp.Expr, derivative: sp.Expr) -> sp.Expr | None:
    if not derivative.has(X):
        return None  # a constant needs no rewriting
    candidates = [derivative.subs(expr, VALUE)]
    with time_limit(VALUE_FORM_TIME_LIMIT) as limit:
        try:
            solutions = sp.solve(sp.Eq(VALUE, expr), X)
            forms = {sp.factor(sp.simplify(derivative.xreplace({X: s}))) for s in solutions}
            if len(forms) == 1:
                candidates.append(forms.pop())
        except (NotImplementedError, ValueError, TypeError, RecursionError):
            pass  # no inverse: keep the derivative as a function of the argument
        except TimeLimitExceeded as err:
            if err.limit is not limit:
                raise  # the whole derivation ran out of time, not just this attempt
    for candidate in candidates:
        if candidate.has(X) or not candidate.is_polynomial(VALUE):
            continue
        with time_limit(VALUE_FORM_TIME_LIMIT) as limit:
            try:
                if sp.simplify(candidate.xreplace({VALUE: expr}) - derivative) == 0:
                    return _tidy(candidate)
            except RecursionError:
                continue
            except TimeLimitExceeded as err:
                if err.limit is not limit:
                    raise
    return None


def _tidy(poly: sp.Expr) -> sp.Expr:
    """The shortest of the usual ways to write a polynomial (u(1 − u) rather than u − u²)."""
    options = [sp.factor(poly), sp.expand(poly)]
    factored = sp.factor(poly)
    coeff, rest = factored.as_coeff_Mul()
    if coeff == -1 and isinstance(rest, sp.Mul):
        # −u(u − 1) reads better as u(1 − u): flip the sign of one linear factor.
        flipped = [f for f in rest.args if isinstance(f, sp.Add) and sp.degree(f, VALUE) == 1]
        if flipped:
            first = flipped[0]
            others = [f for f in rest.args if f is not first]
            options.insert(0, sp.Mul(*others, sp.expand(-first), evaluate=False))
    return min(options, key=lambda e: (sp.count_ops(e), len(str(e))))


def collapse(expr: sp.Expr) -> sp.Expr:
    """Evaluate every sum over a Kronecker delta: Σ_{m'} δ_{m m'} F(m') = F(m).

    The free index (m) is a component index of the gradient and lies in the
    summation range by construction, so no range condition is needed.
    """
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Tuple)):
        return expr
    rebuilt = expr.func(*(collapse(arg) for arg in expr.args))
    if isinstance(rebuilt, sp.Sum):
        return _collapse_sum(rebuilt)
    return rebuilt


def _collapse_sum(total: sp.Sum) -> sp.Expr:
    body = total.function
    for limit in total.limits:
        body = _collapse_one(body, limit)
    return body


def _collapse_one(body: sp.Expr, limit: tuple) -> sp.Expr:
    var, lower, upper = limit
    if isinstance(body, sp.Add):
        return sp.Add(*(_collapse_one(term, limit) for term in body.args))
    if not body.has(var):
        return body * (upper - lower + 1)
    for factor in sp.Mul.make_args(body):
        if isinstance(factor, sp.KroneckerDelta) and var in factor.args:
            other = factor.args[0] if factor.args[1] == var else factor.args[1]
            if not other.has(var):
                rest = sp.Mul(*(f for f in sp.Mul.make_args(body) if f is not factor))
                return rest.xreplace({var: other})
    return sp.Sum(body, limit)


def abbreviate(expr: sp.Expr, model: mo.Model | None = None) -> sp.Expr:
    """Name the nested forward pass: a_{im}, h_{im} = σ(a_{im}), z_{ik}, f_{ik} = g(z_{ik}) (every layer), and σ′, g′.

    Without a model, the reference case (one hidden layer) is assumed.
    """
    layers = model.layers if model is not None else _reference_model().layers
    primes = {layer.function: layer.prime for layer in layers if layer.function is not None}
    # SymPy writes σ′(a) as Subs(Derivative(σ(ξ), ξ), ξ, a): name those first,
    # then any derivative taken directly at an intermediate, then the intermediates.
    is_abstract = lambda e: _is_abstract_derivative(e, primes)  # noqa: E731
    expr = expr.replace(lambda e: isinstance(e, sp.Subs) and is_abstract(e.expr), lambda e: _name_derivative(e, primes))
    expr = expr.replace(is_abstract, lambda e: _name_derivative(e, primes))
    shell = model if model is not None else _reference_model()
    i = mo.i
    # Inside out: the first hidden layer's pre-activation is written in x, the next in h of the one below, …
    for layer in reversed(shell.parameter_layers):
        for unit in (layer.unit, layer.bound):
            expr = expr.xreplace({shell.pre_def(layer, i, unit): layer.pre[i, unit]})
            expr = expr.xreplace({layer.function(layer.pre[i, unit]): layer.post[i, unit]})
    return expr


@lru_cache(maxsize=1)
def _reference_model() -> mo.Model:
    return mo.build(make_spec())


def _is_abstract_derivative(e: sp.Basic, primes: dict) -> bool:
    return isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Function) and e.expr.func in primes


def _name_derivative(e: sp.Basic, primes: dict) -> sp.Expr:
    if isinstance(e, sp.Subs):
        (point,) = e.point
        derivative = e.expr
    else:
        derivative = e
        point = derivative.variables[0]
    if derivative.derivative_count != 1:
        raise InternalError(f"unexpected higher derivative {derivative}")
    return primes[derivative.expr.func](point)


@dataclass(frozen=True)
class ChainStep:
    """One factor of the chain rule: ∂``of``/∂``by`` = ``value`` (computed by SymPy)."""

    of: sp.Expr
    by: sp.Expr
    value: sp.Expr


@dataclass(frozen=True)
class ParameterGradient:
    """Everything derived for one parameter.

    Attributes:
        name: ``"W1"``, ``"b1"``, ``"W2"``, ``"b2"``, … (layer l's parameters are Wl, bl).
        component: the generic component, e.g. ``W2[m, j]``.
        steps: the chain-rule factors, outermost (∂R/∂f) first.
        sum_limits: the sums of the chain rule, (index, 1, size): the unit indices of the layers above, then i.
        direct: ∂R/∂component from ``sympy.diff`` of R, in the named intermediates.
        backprop: the same gradient written with δ^l (e.g. Σ_i δ²_{im} x_{ij}), penalty included.
        penalty: the derivative of the L2 penalty (2λ W^l_{uv}), or 0.
    """

    name: str
    component: sp.Indexed
    steps: tuple[ChainStep, ...]
    sum_limits: tuple[tuple[sp.Symbol, int, sp.Expr], ...]
    direct: sp.Expr
    backprop: sp.Expr
    penalty: sp.Expr = sp.Integer(0)

    @property
    def layer(self) -> int:
        return int(self.name[1:])

    @property
    def sum_indices(self) -> tuple[sp.Symbol, ...]:
        return tuple(limit[0] for limit in self.sum_limits)

    @property
    def chain_product(self) -> sp.Expr:
        """The product of the chain-rule factors, summed (and the penalty's derivative): it equals :attr:`direct`."""
        product = sp.Mul(*(s.value for s in self.steps))
        return sp.Sum(product, *self.sum_limits) + self.penalty

    @property
    def data_part(self) -> sp.Expr:
        """:attr:`backprop` without the penalty: the sum over samples."""
        return self.backprop - self.penalty


@dataclass(frozen=True)
class Derivation:
    """The derived gradients of R for one spec.

    Attributes:
        spec: the network.
        model: its symbolic model.
        forms: σ_l′ and g′ as SymPy derived them, keyed by layer number (1: g).
        deltas: ``{"delta1": δ¹_{ik}, "delta2": δ²_{im}, …}``, the backpropagated errors ∂R/∂a^l.
        parameters: the per-parameter derivation, keyed W1, b1, W2, b2, ….
    """

    spec: Spec
    model: mo.Model
    forms: dict[int, DerivativeForm]
    deltas: dict[str, sp.Expr]
    parameters: dict[str, ParameterGradient]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def sigma_prime(self) -> DerivativeForm:
        """σ′ of the hidden layer next to the output (the σ′ of the reference case)."""
        return self.forms[2]

    @property
    def g_prime(self) -> DerivativeForm:
        return self.forms[1]

    @property
    def gradients(self) -> dict[str, sp.Expr]:
        """One generic component of each gradient, from differentiating R: ``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}``."""
        return {name: pg.direct for name, pg in self.parameters.items()}

    def expanded(self) -> dict[str, sp.Expr]:
        """Every component of every gradient for the spec's sizes, e.g. ``{"W2[1,2]": ...}`` (small networks only)."""
        from symbp.symbolic.expand import expanded_gradients

        if "expanded" not in self._cache:
            self._cache["expanded"] = expanded_gradients(self)
        return self._cache["expanded"]

    def latex(self, expand: bool = False, view: str = "component") -> str:
        """The gradient formulas as LaTeX (an ``align*`` block); with ``expand``, every component too.

        ``view="matrix"`` gives the matrix form (∇_{W²}R = (Δ² )ᵀ X, …) instead of the component form.
        """
        from symbp.latex.formulas import gradients_latex

        return gradients_latex(self, expand=expand, view=view)

    def document(self, expand: bool = False, view: str = "component") -> str:
        """A complete LaTeX article deriving the gradients step by step (``view="matrix"`` adds the matrix form)."""
        from symbp.latex.document import render_document

        return render_document(self, expand=expand, view=view)

    def _repr_latex_(self) -> str:
        from symbp.latex.formulas import gradients_latex

        return gradients_latex(self, expand=False, display=True)


def derive(
    hidden: int | str | tuple[int, ...] = 3,
    sigma: str | tuple[str, ...] = "tanh",
    g: str = "identity",
    inputs: int | None = None,
    outputs: int = 1,
    loss: str = "quadratic",
    l2: float = 0.0,
    *,
    spec: Spec | None = None,
) -> Derivation:
    """Derive the gradient of R with respect to every layer's parameters.

    Args:
        hidden: M, the number of hidden units, or the sizes of several hidden
            layers from the input towards the output, e.g. ``(16, 8)``.
        sigma: activation: identity, sigmoid, tanh, relu, softplus, or an expression in x
            (or one per hidden layer).
        g: output function: identity, sigmoid, tanh, exp, or an expression in x.
        inputs: p, or None to leave it symbolic.
        outputs: d (1 in the reference case).
        loss: ``"quadratic"`` or ``"bce"`` (binary cross-entropy, with g = sigmoid).
        l2: λ for the penalty λ Σ_l ‖W^l‖² (0: none).
        spec: an already validated spec (overrides the other arguments).

    Returns:
        A :class:`Derivation`.

    Example:
        >>> d = derive(hidden=3, sigma="tanh", g="identity")
        >>> d.gradients["b2"]
        Sum(-2*(1 - h[i, m]**2)*(-f[i, k] + y[i, k])*W1[k, m], (k, 1, d), (i, 1, n))
    """
    spec = spec or make_spec(hidden=hidden, sigma=sigma, g=g, inputs=inputs, outputs=outputs, loss=loss, l2=l2)
    try:
        with time_limit(DERIVATION_TIME_LIMIT):
            return _derive(spec)
    except TimeLimitExceeded as err:
        raise ExpressionError(
            f"the derivation for sigma={spec.sigma_text()!r}, g={spec.g.text!r} did not finish within {DERIVATION_TIME_LIMIT:g} s; use a simpler expression"
        ) from err


def _derive(spec: Spec) -> Derivation:
    model = mo.build(spec)
    layers = model.parameter_layers
    forms = {layer.number: derivative_form(spec.g if layer.number == 1 else spec.activation(layer.number)) for layer in layers}
    by_prime = {layer.prime: layer for layer in layers}
    by_pre = {layer.pre: layer for layer in layers}
    i = mo.i

    def concrete(expr: sp.Expr) -> sp.Expr:
        """Put the spec's σ′ and g′ in place of the abstract ones."""

        def value(e: sp.Function) -> sp.Expr:
            argument = e.args[0]
            if not (isinstance(argument, sp.Indexed) and argument.base in by_pre):
                raise InternalError(f"derivative taken at {argument}, which is not a named pre-activation")
            layer = by_pre[argument.base]
            return forms[layer.number].at(argument, layer.post[argument.indices])

        return expr.replace(lambda e: isinstance(e, sp.Function) and e.func in by_prime, value)

    u = {layer.number: layer.unit for layer in model.layers}

    # Chain-rule factors, each one SymPy's derivative of one stage of the model.
    dR_df = sp.diff(model.loss_term(mo.y[i, mo.k], mo.f[i, mo.k]), mo.f[i, mo.k])
    df_dz = concrete(abbreviate(sp.diff(mo.g(mo.z[i, mo.k]), mo.z[i, mo.k]), model))
    # ∂a^{l−1}/∂h^l and ∂h^l/∂a^l for each hidden layer l.
    dpre_dpost: dict[int, sp.Expr] = {}
    dpost_dpre: dict[int, sp.Expr] = {}
    for layer in layers[1:]:
        above = model.layer(layer.number - 1)
        dpre_dpost[layer.number] = collapse(sp.diff(model.pre_def(above, i, above.unit), layer.post[i, layer.unit]))
        dpost_dpre[layer.number] = concrete(abbreviate(sp.diff(layer.function(layer.pre[i, layer.unit]), layer.pre[i, layer.unit]), model))

    # Backpropagation: δ¹ = ∂R/∂z, δ^l = ∂R/∂a^l = (Σ_{u'} δ^{l−1}_{iu'} ∂a^{l−1}_{iu'}/∂h^l) ∂h^l/∂a^l.
    delta1 = dR_df * df_dz
    # A loss with a denominator (cross-entropy) cancels against g′: (f − y), not (−y/f + …)·f(1 − f).
    cancels = sp.fraction(sp.together(dR_df))[1] != 1
    if cancels:
        delta1 = _cancel(delta1)
    deltas = {"delta1": delta1}
    for layer in layers[1:]:
        above = model.layer(layer.number - 1)
        weighted = dpre_dpost[layer.number].xreplace({above.unit: above.bound})
        deltas[f"delta{layer.number}"] = sp.Sum(above.delta[i, above.bound] * weighted, (above.bound, 1, above.size)) * dpost_dpre[layer.number]

    parameters: dict[str, ParameterGradient] = {}
    for layer in layers:
        steps = [ChainStep(mo.R_symbol, mo.f[i, mo.k], dR_df), ChainStep(mo.f[i, mo.k], mo.z[i, mo.k], df_dz)]
        for inner in layers[1 : layer.number]:
            above = model.layer(inner.number - 1)
            steps.append(ChainStep(above.pre[i, above.unit], inner.post[i, inner.unit], dpre_dpost[inner.number]))
            steps.append(ChainStep(inner.post[i, inner.unit], inner.pre[i, inner.unit], dpost_dpre[inner.number]))
        sum_limits = tuple((u[number], 1, model.layer(number).size) for number in range(layer.number - 1, 0, -1)) + ((i, 1, mo.n),)
        for name in layer.parameter_names:
            component = model.component(name)
            local = collapse(sp.diff(model.pre_def(layer, i, layer.unit), component))
            penalty = collapse(sp.diff(model.penalty, component)) if model.penalty != 0 else sp.Integer(0)
            backprop = sp.Sum(layer.delta[i, layer.unit] * local, (i, 1, mo.n)) + penalty
            direct = concrete(abbreviate(collapse(sp.diff(model.R, component)), model))
            if cancels:
                direct = _merge_sums(direct, _cancel_output_part)
            # The bound indices of the layers above are the chain rule's summed indices.
            direct = direct.xreplace({model.layer(number).bound: u[number] for number in range(1, layer.number)})
            if direct.has(*by_prime, *(lay.function for lay in layers), sp.KroneckerDelta):
                raise InternalError(f"the gradient of {name} kept an unevaluated part: {direct}")
            all_steps = tuple(steps) + (ChainStep(layer.pre[i, layer.unit], component, local),)
            parameters[name] = ParameterGradient(name, component, all_steps, sum_limits, direct, backprop, penalty)
    return Derivation(spec, model, forms, deltas, parameters)


def _cancel(expr: sp.Expr) -> sp.Expr:
    """The rational function in lowest terms, factored: (−y/f + (1 − y)/(1 − f))·f(1 − f) → f − y."""
    return sp.factor(sp.cancel(sp.together(expr)))


def _cancel_output_part(expr: sp.Expr) -> sp.Expr:
    """Cancel the factor of a product that involves only y and f (the loss's derivative times g′)."""
    expr = sp.factor_terms(expr)
    output_only = []
    rest = []
    for factor in sp.Mul.make_args(expr):
        bases = {item.base for item in factor.atoms(sp.Indexed)}
        (output_only if bases and bases <= {mo.y, mo.f} else rest).append(factor)
    if not output_only:
        return expr
    return _cancel(sp.Mul(*output_only)) * sp.Mul(*rest)


def _merge_sums(expr: sp.Expr, tidy) -> sp.Expr:
    """Σ A + Σ B over the same limits → Σ tidy(A + B), inside out."""
    if not expr.args or isinstance(expr, (sp.Indexed, sp.Tuple)):
        return expr
    expr = expr.func(*(_merge_sums(arg, tidy) for arg in expr.args))
    if isinstance(expr, sp.Add):
        groups: dict[tuple, list[sp.Expr]] = {}
        rest = []
        for term in expr.args:
            if isinstance(term, sp.Sum):
                groups.setdefault(term.limits, []).append(term.function)
            else:
                rest.append(term)
        if any(len(bodies) > 1 for bodies in groups.values()):
            merged = [sp.Sum(tidy(sp.Add(*bodies)), *limits) for limits, bodies in groups.items()]
            return sp.Add(*merged, *rest)
    if isinstance(expr, sp.Sum):
        return sp.Sum(tidy(expr.function), *expr.limits)
    return expr
