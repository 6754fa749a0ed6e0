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

from symbp import model as mo
from symbp.errors import ExpressionError, InternalError
from symbp.expressions import X, Function
from symbp.limits import TimeLimitExceeded, time_limit
from symbp.spec import Spec, make_spec

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
        >>> from symbp.expressions import activation
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


def abbreviate(expr: sp.Expr) -> sp.Expr:
    """Name the nested forward pass: a_{im}, h_{im} = σ(a_{im}), z_{ik}, f_{ik} = g(z_{ik}), and σ′, g′."""
    # SymPy writes σ′(a) as Subs(Derivative(σ(ξ), ξ), ξ, a): name those first,
    # then any derivative taken directly at an intermediate, then the intermediates.
    expr = expr.replace(lambda e: isinstance(e, sp.Subs) and _is_abstract_derivative(e.expr), _name_derivative)
    expr = expr.replace(_is_abstract_derivative, _name_derivative)
    i = mo.i
    for unit in (mo.m, mo.mm):
        expr = expr.xreplace({mo.a_def(i, unit): mo.a[i, unit]})
        expr = expr.xreplace({mo.sigma(mo.a[i, unit]): mo.h[i, unit]})
    for out in (mo.k, mo.kk):
        expr = expr.xreplace({mo.z_def(i, out): mo.z[i, out]})
        expr = expr.xreplace({mo.g(mo.z[i, out]): mo.f[i, out]})
    return expr


def _is_abstract_derivative(e: sp.Basic) -> bool:
    return isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Function) and e.expr.func in (mo.sigma, mo.g)


def _name_derivative(e: sp.Basic) -> sp.Expr:
    if isinstance(e, sp.Subs):
        (point,) = e.point
        derivative = e.expr
    else:
        derivative = e
        point = derivative.variables[0]
    if derivative.derivative_count != 1:
        raise InternalError(f"unexpected higher derivative {derivative}")
    return (mo.sigma_prime if derivative.expr.func is mo.sigma else mo.g_prime)(point)


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
        name: ``"W1"``, ``"b1"``, ``"W2"`` or ``"b2"``.
        component: the generic component, e.g. ``W2[m, j]``.
        steps: the chain-rule factors, outermost (∂R/∂f) first.
        sum_indices: the indices summed over in the chain rule (i, and k for layer 2).
        direct: ∂R/∂component from ``sympy.diff`` of R, in the named intermediates.
        backprop: the same gradient written with δ¹ or δ² (e.g. Σ_i δ²_{im} x_{ij}).
    """

    name: str
    component: sp.Indexed
    steps: tuple[ChainStep, ...]
    sum_indices: tuple[sp.Symbol, ...]
    direct: sp.Expr
    backprop: sp.Expr

    @property
    def chain_product(self) -> sp.Expr:
        """The product of the chain-rule factors, summed: it equals :attr:`direct`."""
        product = sp.Mul(*(s.value for s in self.steps))
        return sp.Sum(product, *[(v, 1, mo.SIZE[v]) for v in self.sum_indices])


@dataclass(frozen=True)
class Derivation:
    """The derived gradients of R for one spec.

    Attributes:
        spec: the network.
        model: its symbolic model.
        sigma_prime, g_prime: σ′ and g′ as SymPy derived them.
        deltas: ``{"delta1": δ¹_{ik}, "delta2": δ²_{im}}``, the backpropagated errors.
        parameters: the per-parameter derivation, keyed W1, b1, W2, b2.
    """

    spec: Spec
    model: mo.Model
    sigma_prime: DerivativeForm
    g_prime: DerivativeForm
    deltas: dict[str, sp.Expr]
    parameters: dict[str, ParameterGradient]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def gradients(self) -> dict[str, sp.Expr]:
        """One generic component of each gradient, from differentiating R: ``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}``."""
        return {name: pg.direct for name, pg in self.parameters.items()}

    def expanded(self) -> dict[str, sp.Expr]:
        """Every component of ∇₁R and ∇₂R for the spec's M and p, e.g. ``{"W2[1,2]": ...}`` (small M·p only)."""
        from symbp.expand import expanded_gradients

        if "expanded" not in self._cache:
            self._cache["expanded"] = expanded_gradients(self)
        return self._cache["expanded"]

    def latex(self, expand: bool = False) -> str:
        """The gradient formulas as LaTeX (an ``align*`` block); with ``expand``, every component too."""
        from symbp.latex import gradients_latex

        return gradients_latex(self, expand=expand)

    def document(self, expand: bool = False) -> str:
        """A complete LaTeX article deriving ∇₁R and ∇₂R step by step."""
        from symbp.document import render_document

        return render_document(self, expand=expand)

    def _repr_latex_(self) -> str:
        from symbp.latex import gradients_latex

        return gradients_latex(self, expand=False, display=True)


def derive(
    hidden: int = 3,
    sigma: str = "tanh",
    g: str = "identity",
    inputs: int | None = None,
    outputs: int = 1,
    *,
    spec: Spec | None = None,
) -> Derivation:
    """Derive ∇₁R and ∇₂R for a network with one hidden layer.

    Args:
        hidden: M, the number of hidden units.
        sigma: activation: identity, sigmoid, tanh, relu, softplus, or an expression in x.
        g: output function: identity, sigmoid, tanh, exp, or an expression in x.
        inputs: p, or None to leave it symbolic.
        outputs: d (1 in the reference case).
        spec: an already validated spec (overrides the other arguments).

    Returns:
        A :class:`Derivation`.

    Example:
        >>> d = derive(hidden=3, sigma="tanh", g="identity")
        >>> d.gradients["b2"]
        Sum(-2*(1 - h[i, m]**2)*(-f[i, k] + y[i, k])*W1[k, m], (k, 1, d), (i, 1, n))
    """
    spec = spec or make_spec(hidden=hidden, sigma=sigma, g=g, inputs=inputs, outputs=outputs)
    try:
        with time_limit(DERIVATION_TIME_LIMIT):
            return _derive(spec)
    except TimeLimitExceeded as err:
        raise ExpressionError(
            f"the derivation for sigma={spec.sigma.text!r}, g={spec.g.text!r} did not finish within {DERIVATION_TIME_LIMIT:g} s; use a simpler expression"
        ) from err


def _derive(spec: Spec) -> Derivation:
    model = mo.build(spec)
    sigma_prime = derivative_form(spec.sigma)
    g_prime = derivative_form(spec.g)
    i, m, k, kk = mo.i, mo.m, mo.k, mo.kk

    def concrete(expr: sp.Expr) -> sp.Expr:
        """Put the spec's σ′ and g′ in place of the abstract ones."""
        expr = expr.replace(
            lambda e: isinstance(e, sp.Function) and e.func is mo.sigma_prime,
            lambda e: sigma_prime.at(e.args[0], _value_of(e.args[0], mo.a, mo.h)),
        )
        return expr.replace(
            lambda e: isinstance(e, sp.Function) and e.func is mo.g_prime,
            lambda e: g_prime.at(e.args[0], _value_of(e.args[0], mo.z, mo.f)),
        )

    # Chain-rule factors, each one SymPy's derivative of one stage of the model.
    dR_df = sp.diff(mo.loss_term(mo.y[i, k], mo.f[i, k]), mo.f[i, k])
    df_dz = concrete(abbreviate(sp.diff(mo.g(mo.z[i, k]), mo.z[i, k])))
    dz_dh = collapse(sp.diff(mo.z_def(i, k), mo.h[i, m]))
    dh_da = concrete(abbreviate(sp.diff(mo.sigma(mo.a[i, m]), mo.a[i, m])))
    dz = {name: collapse(sp.diff(mo.z_def(i, k), mo.COMPONENTS[name])) for name in ("W1", "b1")}
    da = {name: collapse(sp.diff(mo.a_def(i, m), mo.COMPONENTS[name])) for name in ("W2", "b2")}

    out_steps = (
        ChainStep(mo.R_symbol, mo.f[i, k], dR_df),
        ChainStep(mo.f[i, k], mo.z[i, k], df_dz),
    )
    hidden_steps = out_steps + (
        ChainStep(mo.z[i, k], mo.h[i, m], dz_dh),
        ChainStep(mo.h[i, m], mo.a[i, m], dh_da),
    )

    # Backpropagation: δ¹ = ∂R/∂z, δ² = ∂R/∂a = Σ_k δ¹ ∂z/∂h · ∂h/∂a.
    delta1 = dR_df * df_dz
    delta2 = sp.Sum(mo.delta1[i, kk] * dz_dh.xreplace({k: kk}), (kk, 1, mo.d)) * dh_da
    deltas = {"delta1": delta1, "delta2": delta2}

    parameters: dict[str, ParameterGradient] = {}
    for name in mo.PARAMETERS:
        component = mo.COMPONENTS[name]
        if name in dz:
            steps = out_steps + (ChainStep(mo.z[i, k], component, dz[name]),)
            backprop = sp.Sum(mo.delta1[i, k] * dz[name], (i, 1, mo.n))
            sum_indices: tuple[sp.Symbol, ...] = (i,)
        else:
            steps = hidden_steps + (ChainStep(mo.a[i, m], component, da[name]),)
            backprop = sp.Sum(mo.delta2[i, m] * da[name], (i, 1, mo.n))
            sum_indices = (k, i)
        direct = concrete(abbreviate(collapse(sp.diff(model.R, component))))
        if not component.free_symbols & {k}:
            direct = direct.xreplace({kk: k})
        if direct.has(mo.sigma, mo.g, mo.sigma_prime, mo.g_prime, sp.KroneckerDelta):
            raise InternalError(f"the gradient of {name} kept an unevaluated part: {direct}")
        parameters[name] = ParameterGradient(name, component, steps, sum_indices, direct, backprop)
    return Derivation(spec, model, sigma_prime, g_prime, deltas, parameters)


def _value_of(argument: sp.Expr, pre: sp.IndexedBase, post: sp.IndexedBase) -> sp.Expr:
    """h_{im} for a_{im}, f_{ik} for z_{ik}: the named value of the function at a named argument."""
    if isinstance(argument, sp.Indexed) and argument.base == pre:
        return post[argument.indices]
    raise InternalError(f"derivative taken at {argument}, which is not a named pre-activation")
