"""The symbolic model: the network and its loss R as SymPy expressions.

Second stage of the pipeline (spec → **model** → derivation → printing →
rendering → files).  Everything is written in the index notation of a
textbook, with SymPy ``IndexedBase`` arrays and ``Sum``.  For one hidden layer:

    a_{im} = b²_m + Σ_j W²_{mj} x_{ij}        h_{im} = σ(a_{im})
    z_{ik} = b¹_k + Σ_m W¹_{km} h_{im}        f_{ik} = g(z_{ik})
    R = Σ_i Σ_k ℓ(y_{ik}, f_{ik}) (+ λ Σ_l ‖W^l‖²),  ℓ(y, f) = (y − f)² by default,

or R = (1/n) Σ_i Σ_k ℓ(y_{ik}, f_{ik}) (+ …) with the mean reduction: the factor 1/n is
:attr:`Model.scale`, part of R, so that SymPy's derivatives carry it.

Indices: i runs over the n samples, j over the p inputs, m over the M hidden
units and k over the d outputs.  A deeper network numbers its layers from the
output inwards (A¹ is the outermost map); layer l has its own unit index
(k, m, q, r, t, v, w for l = 1, 2, 3, …), pre-activation a^l and value h^l
(written a, h when there is one hidden layer, z, f for the output layer).

σ and g appear as *undefined* SymPy functions so that the derivation keeps the
chain-rule structure; the concrete σ and g of the spec, and their derivatives,
are substituted after SymPy has differentiated.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbp.spec.functions import X
from symbp.spec.network import MAX_HIDDEN_LAYERS, Loss, Spec

# Index symbols.  The primed names are the bound (summation) indices.
i, j, m, k = sp.symbols("i j m k", integer=True, positive=True)
j_bound, m_bound, k_bound = sp.symbols("j' m' k'", integer=True, positive=True)
#: The index of the softmax's normalising sum over the outputs.
k_norm = sp.Symbol("k''", integer=True, positive=True)
n, M, p, d = sp.symbols("n M p d", integer=True, positive=True)

#: The unit index of layer l (l = 1: the outputs), in order; the inputs use j.  Layers past
#: the seventh take m with their number (m8, m9, …), like their sizes M_8, M_9, ….
UNIT_LETTERS = ("k", "m", "q", "r", "t", "v", "w") + tuple(f"m{number}" for number in range(8, MAX_HIDDEN_LAYERS + 2))

# Data, and the arrays of the reference case (one hidden layer): the same objects layers_for makes for it.
x = sp.IndexedBase("x", real=True)
y = sp.IndexedBase("y", real=True)
W1 = sp.IndexedBase("W1", real=True)
b1 = sp.IndexedBase("b1", real=True)
W2 = sp.IndexedBase("W2", real=True)
b2 = sp.IndexedBase("b2", real=True)
a = sp.IndexedBase("a", real=True)
h = sp.IndexedBase("h", real=True)
z = sp.IndexedBase("z", real=True)
f = sp.IndexedBase("f", real=True)
#: The softmax's log-partition s_i = log Σ_k e^{z_{ik}} (a classifier's kernels compute it once per sample).
s = sp.IndexedBase("s", real=True)
delta1 = sp.IndexedBase("delta1", real=True)
delta2 = sp.IndexedBase("delta2", real=True)

#: The loss, as a plain symbol for printing ∂R/∂(...); λ, the weight of the L2 penalty.
R_symbol = sp.Symbol("R")
LAMBDA = sp.Symbol("lambda", positive=True)

#: The abstract output function and its derivative (each hidden layer's σ is made by :func:`layers_for`).
g = sp.Function("g", real=True)
g_prime = sp.Function("g_prime", real=True)


@dataclass(frozen=True)
class Layer:
    """Layer l of the network: a^l = W^l h^{l+1} + b^l and h^l = σ_l(a^l) (z, f and g for l = 1).

    The "layer" L+2 below the first hidden layer is the input: ``pre`` and
    ``post`` are then x, its unit index j and its size p.
    """

    number: int
    unit: sp.Symbol
    bound: sp.Symbol
    size: sp.Symbol
    pre: sp.IndexedBase
    post: sp.IndexedBase
    W: sp.IndexedBase | None
    b: sp.IndexedBase | None
    delta: sp.IndexedBase | None
    function: sp.FunctionClass | None
    prime: sp.FunctionClass | None

    @property
    def is_input(self) -> bool:
        return self.W is None

    @property
    def parameter_names(self) -> tuple[str, str]:
        return (f"W{self.number}", f"b{self.number}")


def layers_for(spec: Spec) -> tuple[Layer, ...]:
    """Layers 1 … L+1, then the input as a last pseudo-layer (index L+1 in the tuple)."""
    L = spec.depth
    out = []
    for number in range(1, L + 2):
        letter = UNIT_LETTERS[number - 1]
        unit = sp.Symbol(letter, integer=True, positive=True)
        bound = sp.Symbol(letter + "'", integer=True, positive=True)
        if number == 1:
            size, pre, post, function, prime = d, z, f, g, g_prime
        else:
            size = M if L == 1 else sp.Symbol(f"M_{number}", integer=True, positive=True)
            suffix = "" if L == 1 else str(number)
            pre = sp.IndexedBase("a" + suffix, real=True)
            post = sp.IndexedBase("h" + suffix, real=True)
            name = "sigma" if spec.uniform_sigma else f"sigma{number}"
            function = sp.Function(name, real=True)
            prime = sp.Function(name + "_prime", real=True)
        out.append(
            Layer(
                number=number, unit=unit, bound=bound, size=size, pre=pre, post=post,
                W=sp.IndexedBase(f"W{number}", real=True), b=sp.IndexedBase(f"b{number}", real=True),
                delta=sp.IndexedBase(f"delta{number}", real=True), function=function, prime=prime,
            )
        )
    out.append(Layer(number=L + 2, unit=j, bound=j_bound, size=p, pre=x, post=x, W=None, b=None, delta=None, function=None, prime=None))
    return tuple(out)


def loss_term(target: sp.Expr, output: sp.Expr, loss: Loss = Loss.QUADRATIC) -> sp.Expr:
    """ℓ(y, f): one sample's, one output's share of R — (y − f)², −y log f − (1 − y) log(1 − f), or −y log f (softmax)."""
    if loss is Loss.SOFTMAX:
        return -target * sp.log(output)
    if loss is Loss.BCE:
        return -target * sp.log(output) - (1 - target) * sp.log(1 - output)
    return (target - output) ** 2


@dataclass(frozen=True)
class Model:
    """The spec's network as SymPy expressions.

    Attributes:
        spec: the validated spec.
        layers: layer 1 (output) … L+1 (first hidden layer), then the input pseudo-layer.
        R: the loss as one nested expression, with the abstract σ and g.
        penalty: λ Σ_l Σ (W^l)², or 0.
        scale: the factor of the sum over samples, 1 (sum) or 1/n (mean); the penalty has none.
    """

    spec: Spec
    layers: tuple[Layer, ...]
    R: sp.Expr
    penalty: sp.Expr

    @property
    def scale(self) -> sp.Expr:
        return scale_of(self.spec)

    @property
    def hidden_layers(self) -> tuple[Layer, ...]:
        return self.layers[1:-1]

    @property
    def parameter_layers(self) -> tuple[Layer, ...]:
        """The layers with parameters, output layer first."""
        return self.layers[:-1]

    def layer(self, number: int) -> Layer:
        return self.layers[number - 1]

    def below(self, layer: Layer) -> Layer:
        """The layer whose values feed ``layer`` (the input for the first hidden layer)."""
        return self.layers[layer.number]

    @property
    def parameters(self) -> tuple[str, ...]:
        """W1, b1, W2, b2, … in the order of the notation."""
        return tuple(name for layer in self.parameter_layers for name in layer.parameter_names)

    def component(self, name: str) -> sp.Indexed:
        """The generic component of a parameter: W^l_{u v} with u the layer's unit and v the unit below."""
        layer = self.layer(int(name[1:]))
        if name.startswith("W"):
            return layer.W[layer.unit, self.below(layer).unit]
        return layer.b[layer.unit]

    def function_expr(self, layer: Layer) -> sp.Expr:
        """The concrete σ_l(x) or g(x) of the spec."""
        fn = self.spec.g if layer.number == 1 else self.spec.activation(layer.number)
        return fn.expr

    def concrete(self, layer: Layer, u: sp.Expr) -> sp.Expr:
        return self.function_expr(layer).subs(X, u)

    def pre_def(self, layer: Layer, sample: sp.Expr, unit: sp.Expr, inner: sp.Expr | None = None) -> sp.Expr:
        """a^l_{i u} = b^l_u + Σ_{v'} W^l_{u v'} h^{l+1}_{i v'}; ``inner`` replaces h^{l+1}_{i v'} when given."""
        below = self.below(layer)
        value = below.post[sample, below.bound] if inner is None else inner
        return layer.b[unit] + sp.Sum(layer.W[unit, below.bound] * value, (below.bound, 1, below.size))

    def loss_term(self, target: sp.Expr, output: sp.Expr) -> sp.Expr:
        return loss_term(target, output, self.spec.loss)

    def loss_in_z(self, target: sp.Expr, pre: sp.Expr) -> sp.Expr | None:
        """ℓ(y, g(z)) with the logarithms of g expanded (log 1/(1 + e^{−z}) = −log(1 + e^{−z})), or None.

        A loss with logarithms (cross-entropy) is evaluated from z in this form,
        where no log of a value that rounds to 0 is taken; a loss without them needs no rewriting.
        """
        if self.spec.loss is Loss.SOFTMAX:
            # −y log(e^{z}/Σ e^{z}) = y (log Σ_{k'} e^{z_{ik'}} − z): no log of a probability.
            term = self.loss_term(target, softmax_of(pre))
            return sp.collect(sp.expand(sp.expand_log(term, force=True)), [target], evaluate=True)
        term = self.loss_term(target, sp.Symbol("_f"))
        if not term.has(sp.log):
            return None
        term = term.xreplace({sp.Symbol("_f"): self.concrete(self.layers[0], pre)})
        expanded = term.replace(lambda e: isinstance(e, sp.log), lambda e: sp.expand_log(sp.log(sp.factor(sp.together(e.args[0]))), force=True))
        return sp.collect(sp.expand(expanded), [target], evaluate=True)

    def data_loss(self) -> sp.Expr:
        """Σ_i Σ_k ℓ(y_{ik}, f_{ik}) in the named output f (times 1/n for the mean)."""
        return self.scale * sp.Sum(self.loss_term(y[i, k], f[i, k]), (k, 1, d), (i, 1, n))

    def total_loss(self) -> sp.Expr:
        """R in the named output: the data term and the penalty."""
        return self.data_loss() + self.penalty


def build(spec: Spec) -> Model:
    """Build R = (1/n) Σ_i Σ_k ℓ(y_{ik}, g(b¹_k + Σ_m W¹_{km} σ(b²_m + Σ_j W²_{mj} x_{ij}))) (+ penalty), nested to x.

    Example:
        >>> from symbp.spec.network import make_spec
        >>> build(make_spec(hidden=2)).R.has(sp.Function("sigma", real=True))
        True
    """
    layers = layers_for(spec)
    shell = Model(spec=spec, layers=layers, R=sp.Integer(0), penalty=sp.Integer(0))

    # Bound indices (k', m', …) differ from the free ones (k, m, …) of the gradient
    # components, so that differentiating by W¹_{km} picks output k.
    def nested(layer: Layer, unit: sp.Expr) -> sp.Expr:
        below = shell.below(layer)
        if below.is_input:
            return shell.pre_def(layer, i, unit)
        return shell.pre_def(layer, i, unit, inner=below.function(nested(below, below.bound)))

    output = layers[0]
    if spec.loss is Loss.SOFTMAX:
        # f_{ik'} = e^{z_{ik'}} / Σ_{k''} e^{z_{ik''}}, each z written out to x.
        normaliser = sp.Sum(sp.exp(nested(output, k_norm)), (k_norm, 1, d))
        value = sp.exp(nested(output, k_bound)) / normaliser
    else:
        value = output.function(nested(output, k_bound))
    R = scale_of(spec) * sp.Sum(loss_term(y[i, k_bound], value, spec.loss), (k_bound, 1, d), (i, 1, n))
    penalty = sp.Integer(0)
    if spec.l2:
        for layer in shell.parameter_layers:
            below = shell.below(layer)
            penalty += sp.Sum(layer.W[layer.bound, below.bound] ** 2, (layer.bound, 1, layer.size), (below.bound, 1, below.size))
        penalty = LAMBDA * penalty
    return Model(spec=spec, layers=layers, R=R + penalty, penalty=penalty)


def softmax_of(pre: sp.Indexed) -> sp.Expr:
    """The softmax at output pre = z_{iu}: e^{z_{iu}} / Σ_{k''} e^{z_{ik''}}.

    Example:
        >>> softmax_of(z[i, k])
        exp(z[i, k])/Sum(exp(z[i, k'']), (k'', 1, d))
    """
    sample = pre.indices[0]
    return sp.exp(pre) / sp.Sum(sp.exp(pre.base[sample, k_norm]), (k_norm, 1, d))


def scale_of(spec: Spec) -> sp.Expr:
    """The factor of R's sum over samples: 1, or 1/n for the mean reduction.

    Example:
        >>> from symbp.spec.network import make_spec
        >>> scale_of(make_spec(reduction="mean"))
        1/n
    """
    return 1 / n if spec.mean else sp.Integer(1)


def penalty_weight(spec: Spec) -> sp.Rational:
    """λ as the exact number the user typed (0.01 stays 1/100): kernels, views and checks are built for one λ.

    Example:
        >>> from symbp.spec.network import make_spec
        >>> penalty_weight(make_spec(l2=0.01))
        1/100
    """
    return sp.Rational(repr(spec.l2))


def drop_output_sums(expr: sp.Expr, outputs: int) -> sp.Expr:
    """With one output (d = 1), the sums over the output index dropped: they have one term, as the textbook writes it."""
    if outputs != 1:
        return expr

    def drop(e: sp.Sum) -> sp.Expr:
        limits = [lim for lim in e.limits if lim[0] not in (k, k_bound)]
        body = e.function.xreplace({k_bound: k})
        return sp.Sum(body, *limits) if limits else body

    return expr.replace(lambda e: isinstance(e, sp.Sum), drop)
