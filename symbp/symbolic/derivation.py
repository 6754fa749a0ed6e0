"""The derivation: SymPy differentiates each stage of the network once; backpropagation chains them.

Third stage of the pipeline (spec → model → **derivation** → printing →
rendering → files).  The gradient is derived through the per-layer backward
recursion, so that its cost grows linearly with the depth:

* **Local derivatives**: each factor ∂R/∂f, ∂f/∂z, ∂a^{l−1}/∂h^l, ∂h^l/∂a^l,
  ∂a^l/∂W^l is obtained by ``sympy.diff`` of one stage of the model, once per layer.
* **Backward recursion**: δ¹ = ∂R/∂z, then δ^l = ∂R/∂a^l from δ^{l−1}; every
  gradient is Σ_i δ^l ∂a^l/∂θ (its *backpropagation form*, from which the
  kernels are built) and, with the factors multiplied out, the chain rule's
  product (:attr:`ParameterGradient.gradient`, what ``Derivation.gradients`` returns).
* **Direct check**: for networks of at most :data:`DIRECT_DEPTH` hidden layers,
  ``sympy.diff(R, W²_{mj})`` of the whole nested loss is taken as well, an
  independent route whose size grows with the depth; the derivation fails with
  an internal error if the two disagree.  Deeper networks are checked numerically
  (finite differences and the independent evaluation of :mod:`symbp.testing`).

SymPy answers with sums over Kronecker deltas, which
:func:`~symbp.symbolic.notation.collapse` evaluates, and with the nested forward
pass, which :func:`~symbp.symbolic.notation.abbreviate` names a, h, z, f.
σ′ and g′ come from ``sympy.diff`` of the spec's σ and g (:mod:`symbp.symbolic.derivatives`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import sympy as sp

from symbp.errors import ExpressionError, InternalError
from symbp.limits import TimeLimitExceeded, time_limit
from symbp.spec.network import Loss, Spec, make_spec
from symbp.symbolic.derivatives import DerivativeForm, derivative_form
from symbp.symbolic.expand import expanded_gradients
from symbp.symbolic.model import LAMBDA, Layer, Model, R_symbol, build, d, f, i, k, k_bound, n, y, z
from symbp.symbolic.softmax import softmax_factors
from symbp.symbolic.notation import Concrete, abbreviate, cancel, cancel_output_part, collapse, merge_sums, name_derivatives

#: Seconds allowed for the whole derivation of one spec.
DERIVATION_TIME_LIMIT = 60.0
#: Networks with at most this many hidden layers are also differentiated directly (``diff`` of the
#: whole nested R) as a check; its cost grows faster than the depth, the recursion's does not.
DIRECT_DEPTH = 2


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
        backprop: the same gradient written with δ^l (e.g. Σ_i δ²_{im} x_{ij}), penalty included.
        penalty: the derivative of the L2 penalty (2λ W^l_{uv}), or 0.
        direct: ∂R/∂component from ``sympy.diff`` of the whole R, for networks of at most
            :data:`DIRECT_DEPTH` hidden layers (None deeper); it equals :func:`written_out`.
    """

    name: str
    component: sp.Indexed
    steps: tuple[ChainStep, ...]
    sum_limits: tuple[tuple[sp.Symbol, int, sp.Expr], ...]
    backprop: sp.Expr
    penalty: sp.Expr = sp.Integer(0)
    direct: sp.Expr | None = None

    @property
    def layer(self) -> int:
        return int(self.name[1:])

    @property
    def sum_indices(self) -> tuple[sp.Symbol, ...]:
        return tuple(limit[0] for limit in self.sum_limits)

    @property
    def chain_product(self) -> sp.Expr:
        """The product of the chain-rule factors under one sum over all their indices (and the penalty's derivative).

        It equals :attr:`gradient`, but as one flat sum: evaluated term by term it costs a product of all layer sizes.
        """
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
    model: Model
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
        """One generic component of each gradient, written out: ``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}``.

        Written out on first use (:func:`written_out`); a kernel needs only the δ^l and the backpropagation forms.
        """
        return {name: self.gradient(name) for name in self.parameters}

    def gradient(self, name: str) -> sp.Expr:
        """One generic component of ∂R/∂``name``, written out (:func:`written_out`), e.g. ``derivation.gradient("W2")``."""
        key = ("gradient", name)
        if key not in self._cache:
            self._cache[key] = written_out(self.parameters[name], self.deltas["delta1"], self.model)
        return self._cache[key]

    def expanded(self) -> dict[str, sp.Expr]:
        """Every component of every gradient for the spec's sizes, e.g. ``{"W2[1,2]": ...}`` (small networks only)."""
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
    reduction: str = "sum",
    dtype: str = "float64",
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
        reduction: ``"sum"`` (R = Σ_i …, default) or ``"mean"`` (R = (1/n) Σ_i …).
        dtype: ``"float64"`` (default) or ``"float32"``: what a kernel emitted from it computes in (the formulas are the same).
        spec: an already validated spec (overrides the other arguments).

    Returns:
        A :class:`Derivation`.

    Example:
        >>> d = derive(hidden=3, sigma="tanh", g="identity")
        >>> d.gradients["b2"]
        Sum((1 - h[i, m]**2)*(2*f[i, k] - 2*y[i, k])*W1[k, m], (k, 1, d), (i, 1, n))
    """
    spec = spec or make_spec(
        hidden=hidden, sigma=sigma, g=g, inputs=inputs, outputs=outputs, loss=loss, l2=l2, reduction=reduction, dtype=dtype
    )
    try:
        with time_limit(DERIVATION_TIME_LIMIT):
            return _derive(spec)
    except TimeLimitExceeded as err:
        raise ExpressionError(
            f"the derivation for sigma={spec.sigma_text()!r}, g={spec.g.text!r} did not finish within {DERIVATION_TIME_LIMIT:g} s; use a simpler expression"
        ) from err


def _derive(spec: Spec) -> Derivation:
    model = build(spec)
    forms = {layer.number: derivative_form(spec.g if layer.number == 1 else spec.activation(layer.number)) for layer in model.parameter_layers}
    if spec.loss is Loss.SOFTMAX:  # g is not elementwise: no g′ (its Jacobian is a chain factor)
        forms[1] = DerivativeForm(function=spec.g, expr=sp.Integer(0), value_form=None)
    factors = _ChainFactors.of(model, forms)
    parameters: dict[str, ParameterGradient] = {}
    for layer in model.parameter_layers:
        steps = factors.steps_to(layer)
        sum_limits = tuple((model.layer(number).unit, 1, model.layer(number).size) for number in range(layer.number - 1, 0, -1)) + ((i, 1, n),)
        if spec.loss is Loss.SOFTMAX:  # the chain's first factors meet at f_{ik'}: a sum over k' too
            sum_limits = ((k_bound, 1, d),) + sum_limits
        for name in layer.parameter_names:
            parameters[name] = _parameter_gradient(name, layer, steps, sum_limits, factors)
    deltas = factors.deltas()
    # The direct check differentiates the nested R, whose softmax SymPy leaves unnamed: softmax is checked numerically.
    if spec.depth <= DIRECT_DEPTH and spec.loss is not Loss.SOFTMAX:
        parameters = {name: _checked_directly(pg, written_out(pg, deltas["delta1"], model), factors) for name, pg in parameters.items()}
    return Derivation(spec, model, forms, deltas, parameters)


@dataclass(frozen=True)
class _ChainFactors:
    """The chain rule's factors, each SymPy's derivative of one stage of the model, with σ′ and g′ put in.

    Attributes:
        dR_df: ∂ℓ/∂f; df_dz: g′(z).
        dpre_dpost: ∂a^{l−1}/∂h^l for each hidden layer l; dpost_dpre: ∂h^l/∂a^l = σ_l′(a^l).
        cancels: the loss's derivative has a denominator that cancels against g′ (cross-entropy).
        delta1: δ¹ = ∂R/∂z = ∂ℓ/∂f g′(z), cancelled when it cancels.
        chain: every factor from R down to the first hidden layer's pre-activation (a prefix serves each layer).
    """

    model: Model
    forms: dict[int, DerivativeForm]
    dR_df: sp.Expr
    df_dz: sp.Expr
    dpre_dpost: dict[int, sp.Expr]
    dpost_dpre: dict[int, sp.Expr]
    cancels: bool
    delta1: sp.Expr
    chain: tuple[ChainStep, ...]

    @classmethod
    def of(cls, model: Model, forms: dict[int, DerivativeForm]) -> _ChainFactors:
        concrete = Concrete(model, forms)
        output = model.layer(1)
        if model.spec.loss is Loss.SOFTMAX:
            # Not elementwise: Σ_{k'} ∂ℓ/∂f_{ik'} ∂f_{ik'}/∂z_{ik}, which SymPy cancels to f − y (symbolic/softmax.py).
            soft = softmax_factors()
            dR_df, df_dz, cancels = model.scale * soft.dR_df, soft.df_dz, True
            delta1 = model.scale * soft.delta1
            chain = [ChainStep(R_symbol, f[i, k_bound], dR_df), ChainStep(f[i, k_bound], z[i, k], df_dz)]
        else:
            # ∂ℓ/∂f, times 1/n for the mean: R's factor is part of its derivative.
            dl_df = sp.diff(model.loss_term(y[i, k], f[i, k]), f[i, k])
            dR_df = model.scale * dl_df
            df_dz = concrete(name_derivatives(sp.diff(output.function(z[i, k]), z[i, k]), model))
            cancels = sp.fraction(sp.together(dl_df))[1] != 1
            # A loss with a denominator (cross-entropy) cancels against g′: (f − y), not (−y/f + …)·f(1 − f).
            delta1 = model.scale * cancel(dl_df * df_dz) if cancels else dR_df * df_dz
            chain = [ChainStep(R_symbol, f[i, k], dR_df), ChainStep(f[i, k], z[i, k], df_dz)]
        dpre_dpost, dpost_dpre = {}, {}
        for layer in model.hidden_layers:
            above = model.layer(layer.number - 1)
            pre, post = layer.pre[i, layer.unit], layer.post[i, layer.unit]
            dpre_dpost[layer.number] = collapse(sp.diff(model.pre_def(above, i, above.unit), post))
            dpost_dpre[layer.number] = concrete(name_derivatives(sp.diff(layer.function(pre), pre), model))
            chain += [ChainStep(above.pre[i, above.unit], post, dpre_dpost[layer.number]), ChainStep(post, pre, dpost_dpre[layer.number])]
        return cls(model, forms, dR_df, df_dz, dpre_dpost, dpost_dpre, cancels, delta1, tuple(chain))

    def deltas(self) -> dict[str, sp.Expr]:
        """δ¹ = ∂R/∂z, δ^l = ∂R/∂a^l = (Σ_{u'} δ^{l−1}_{iu'} ∂a^{l−1}_{iu'}/∂h^l) ∂h^l/∂a^l."""
        deltas = {"delta1": self.delta1}
        for layer in self.model.hidden_layers:
            above = self.model.layer(layer.number - 1)
            weighted = self.dpre_dpost[layer.number].xreplace({above.unit: above.bound})
            backpropagated = sp.Sum(above.delta[i, above.bound] * weighted, (above.bound, 1, above.size))
            deltas[f"delta{layer.number}"] = backpropagated * self.dpost_dpre[layer.number]
        return deltas

    def steps_to(self, layer: Layer) -> tuple[ChainStep, ...]:
        """The factors from R down to layer's pre-activation: ∂R/∂f, ∂f/∂z, then ∂a/∂h, ∂h/∂a for each layer between."""
        return self.chain[: 2 * layer.number]


def _parameter_gradient(name: str, layer: Layer, steps: tuple[ChainStep, ...], sum_limits: tuple, factors: _ChainFactors) -> ParameterGradient:
    """The chain rule, the backpropagation form and the gradient written out, for one parameter."""
    model = factors.model
    component = model.component(name)
    local = collapse(sp.diff(model.pre_def(layer, i, layer.unit), component))
    penalty = collapse(sp.diff(model.penalty, component)) if model.penalty != 0 else sp.Integer(0)
    backprop = sp.Sum(layer.delta[i, layer.unit] * local, (i, 1, n)) + penalty
    all_steps = steps + (ChainStep(layer.pre[i, layer.unit], component, local),)
    return ParameterGradient(name, component, all_steps, sum_limits, backprop, penalty)


def written_out(pg: ParameterGradient, delta1: sp.Expr, model: Model) -> sp.Expr:
    """Σ_i Σ_k δ¹_{ik} Σ_m ∂z_{ik}/∂h_{im} ∂h_{im}/∂a_{im} Σ_q … ∂a^l/∂θ: the recursion's factors multiplied out.

    Each layer's sum encloses only the factors that depend on its unit, so that the expression
    grows linearly with the depth (the flat :attr:`ParameterGradient.chain_product` does not).

    Args:
        pg: the parameter's derivation (its chain-rule factors and the penalty's derivative).
        delta1: δ¹ = ∂R/∂z, the loss's derivative times g′ (cancelled for the cross-entropy).
        model: the network.

    Returns:
        The generic component of the gradient, in the named intermediates.

    Example:
        >>> d = derive(hidden=3)
        >>> written_out(d.parameters["b2"], d.deltas["delta1"], d.model)
        Sum((1 - h[i, m]**2)*(2*f[i, k] - 2*y[i, k])*W1[k, m], (k, 1, d), (i, 1, n))
    """
    # The steps are ∂R/∂f, ∂f/∂z, then ∂a^{l-1}/∂h^l and ∂h^l/∂a^l for l = 2, 3, …, and ∂a/∂θ last.
    values = [step.value for step in pg.steps]
    expr = values[-1]
    for number in range(pg.layer, 1, -1):
        expr = values[2 * number - 2] * values[2 * number - 1] * expr
        if number != pg.layer:
            layer = model.layer(number)
            expr = sp.Sum(expr, (layer.unit, 1, layer.size))
    limits = ((i, 1, n),) if pg.layer == 1 else ((k, 1, model.layer(1).size), (i, 1, n))
    return sp.Sum(delta1 * expr, *limits) + pg.penalty


def _checked_directly(pg: ParameterGradient, gradient: sp.Expr, factors: _ChainFactors) -> ParameterGradient:
    """``pg`` with SymPy's derivative of the whole nested R, which must equal the recursion's ``gradient``."""
    model = factors.model
    direct = Concrete(model, factors.forms)(abbreviate(collapse(sp.diff(model.R, pg.component)), model))
    if factors.cancels:
        direct = merge_sums(direct, cancel_output_part)
    # The bound indices of the layers above are the chain rule's summed indices.
    direct = direct.xreplace({model.layer(number).bound: model.layer(number).unit for number in range(1, pg.layer)})
    abstract = [lay.prime for lay in model.parameter_layers] + [lay.function for lay in model.parameter_layers]
    if direct.has(*abstract, sp.KroneckerDelta):
        raise InternalError(f"the gradient of {pg.name} kept an unevaluated part: {direct}")
    if direct != gradient and not _agree_numerically(direct, gradient, model):
        raise InternalError(f"the backward recursion and the direct derivative of R disagree for {pg.name}: {gradient} against {direct}")
    return replace(pg, direct=direct)


def _agree_numerically(first: sp.Expr, second: sp.Expr, model: Model) -> bool:
    """Equal for sizes of 2 and random values of every named quantity (a, h, f, y, W, …, each its own number).

    SymPy arranges the two routes' answers differently (a factor inside or outside a sum); as an
    identity in independent numbers, with every size fixed, they must agree to rounding.
    """
    sizes = {layer.size: 2 for layer in model.layers} | {n: 2}
    concrete = [_written_out_sums(e.xreplace(sizes)) for e in (first, second)]
    atoms = sorted(set().union(*(e.atoms(sp.Indexed) for e in concrete)), key=str)
    rng = random.Random(len(atoms))
    for _ in range(2):
        values = {atom: sp.Float(rng.uniform(0.1, 0.9)) for atom in atoms} | {LAMBDA: sp.Float(rng.uniform(0.1, 0.9))}
        try:
            left, right = (e.xreplace(values).evalf() for e in concrete)
        except OverflowError as err:  # beyond even SymPy's numbers: the function is of no use in a network
            raise ExpressionError(
                "the gradients overflow even for pre-activations between 0.1 and 0.9 (sigma or g grows too fast, "
                "e.g. exp nested 6 deep); use a function that grows more slowly"
            ) from err
        # SymPy's numbers, not Python's: a σ such as exp(exp(exp(exp(x)))) reaches 10**52000 at these values.
        gap, scale = sp.Abs(left - right).evalf(), sp.Max(1, sp.Abs(left), sp.Abs(right)).evalf()
        if gap.is_extended_real and scale.is_extended_real and gap > 1e-9 * scale:
            return False
    return True


def _written_out_sums(expr: sp.Expr) -> sp.Expr:
    """Every sum with numbers as limits as an explicit addition (``Sum.doit`` would look for closed forms)."""

    def add_up(total: sp.Sum) -> sp.Expr:
        body = total.function
        for var, lower, upper in total.limits:
            body = sp.Add(*(body.xreplace({var: value}) for value in range(int(lower), int(upper) + 1)))
        return body

    return expr.replace(lambda e: isinstance(e, sp.Sum), add_up)
