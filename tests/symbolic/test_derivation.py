"""The derivation: SymPy's gradients, checked symbolically and numerically."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbp.symbolic import model as mo
from tests.helpers import SLOW, derive, slow_after
from symbp.symbolic.derivatives import U as VALUE, derivative_form
from symbp.symbolic.notation import collapse
from symbp.spec.functions import ACTIVATIONS, OUTPUTS, X, activation, output_function
from symbp.testing import check_grad, generic_gradient, numeric_grad, random_problem, reference

CUSTOM = ["x/(1+exp(-x))", "x**3/3 + sin(x)", "log(1 + x**2) + x"]


def test_value_forms_are_the_usual_ones() -> None:
    assert derivative_form(activation("tanh")).value_form == 1 - VALUE**2
    assert sp.expand(derivative_form(activation("sigmoid")).value_form - VALUE * (1 - VALUE)) == 0
    assert derivative_form(output_function("exp")).value_form == VALUE
    relu = derivative_form(activation("relu"))
    assert relu.value_form is None and relu.expr == sp.Heaviside(X)
    assert derivative_form(activation("identity")).expr == 1


@pytest.mark.parametrize("text", slow_after(CUSTOM))
def test_custom_sigma_derivative_is_sympys(text: str) -> None:
    fn = activation(text)
    form = derivative_form(fn)
    assert sp.simplify(form.expr - sp.diff(fn.expr, X)) == 0
    d = derive(hidden=2, sigma=text)
    # σ′ shows up in ∂R/∂b²_m evaluated at a_{im}.
    expected = sp.diff(fn.expr, X).xreplace({X: mo.a[mo.i, mo.m]})
    summand = d.gradients["b2"].function
    assert sp.simplify(summand / (-2 * (mo.y[mo.i, mo.k] - mo.f[mo.i, mo.k]) * mo.W1[mo.k, mo.m]) - expected) == 0


def test_generic_gradient_reads_like_the_textbook() -> None:
    d = derive(hidden=3, sigma="tanh", g="identity")
    i, j, k, m = mo.i, mo.j, mo.k, mo.m
    expected = sp.Sum(-2 * (mo.y[i, k] - mo.f[i, k]) * mo.W1[k, m] * (1 - mo.h[i, m] ** 2) * mo.x[i, j], (k, 1, mo.d), (i, 1, mo.n))
    W2 = d.gradients["W2"]
    assert W2.limits == expected.limits
    assert sp.expand(W2.function - expected.function) == 0
    W1 = d.gradients["W1"]
    assert W1.limits == ((i, 1, mo.n),)
    assert sp.expand(W1.function + 2 * (mo.y[i, k] - mo.f[i, k]) * mo.h[i, m]) == 0
    # Written with the named intermediates, not as one nested expression.
    assert not W2.has(mo.W2, mo.b2, mo.b1, sp.tanh)
    assert set(d.gradients) == {"W1", "b1", "W2", "b2"}


def test_collapse_evaluates_kronecker_sums() -> None:
    q = mo.m_bound
    expr = sp.Sum(sp.KroneckerDelta(mo.m, q) * mo.W1[mo.k, q], (q, 1, mo.M))
    assert collapse(expr) == mo.W1[mo.k, mo.m]
    assert collapse(sp.Sum(mo.x[mo.i, q], (q, 1, mo.M))) == sp.Sum(mo.x[mo.i, q], (q, 1, mo.M))


@pytest.mark.parametrize("sigma", slow_after(["relu", "tanh", "sigmoid", "softplus", CUSTOM[0]], keep=0))
def test_chain_rule_product_equals_direct_derivative(sigma: str) -> None:
    d = derive(hidden=3, sigma=sigma, g="sigmoid")
    for name, pg in d.parameters.items():
        difference = (pg.chain_product - pg.direct).xreplace({mo.d: 1}).doit()
        assert sp.simplify(difference) == 0, name


@pytest.mark.parametrize("sigma", slow_after(["tanh", "sigmoid"], keep=0))
def test_backprop_form_equals_direct_derivative(sigma: str) -> None:
    d = derive(hidden=2, sigma=sigma, g="tanh")
    for name, pg in d.parameters.items():
        backprop = pg.backprop.xreplace({mo.d: 1}).doit()
        backprop = backprop.replace(lambda e: isinstance(e, sp.Indexed) and e.base == mo.delta2, lambda e: d.deltas["delta2"].xreplace({mo.d: 1}).doit().xreplace({mo.m: e.indices[1]}))
        backprop = backprop.replace(lambda e: isinstance(e, sp.Indexed) and e.base == mo.delta1, lambda e: d.deltas["delta1"].xreplace({mo.k: e.indices[1]}))
        direct = pg.direct.xreplace({mo.d: 1}).doit()
        assert sp.simplify(backprop.doit() - direct) == 0, name


@pytest.mark.parametrize(
    ("sigma", "g"),
    slow_after([("tanh", "identity"), ("sigmoid", "sigmoid"), ("relu", "exp"), ("softplus", "tanh"), ("x/(1+exp(-x))", "identity")], unpack=True),
)
def test_generic_formula_instantiated_equals_expanded_components(sigma: str, g: str) -> None:
    from symbp.symbolic.expand import components
    from symbp.testing import _parse_key, instantiate

    d = derive(hidden=2, sigma=sigma, g=g, inputs=2)
    expanded = d.expanded()
    assert len(expanded) == 2 + 1 + 4 + 2
    for key, component in components(d).items():
        name, _ = _parse_key(key)
        values = dict(zip(d.model.component(name).indices, component.indices))
        generic = instantiate(d.gradients[name], d, values)
        assert isinstance(generic, sp.Sum) and isinstance(expanded[key], sp.Sum)
        difference = generic.function - expanded[key].function
        assert sp.simplify(difference) == 0, key


SIGMAS = list(ACTIVATIONS) + CUSTOM[:2]
GS = list(OUTPUTS)


@pytest.mark.parametrize(("sigma", "g"), slow_after(sorted(((sigma, g) for g in GS for sigma in SIGMAS), key=lambda case: case != ("tanh", "identity")), unpack=True))
def test_gradients_match_finite_differences(sigma: str, g: str) -> None:
    d = derive(hidden=3, sigma=sigma, g=g, inputs=2)
    params, X, y = random_problem(d, n=6, seed=1)
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    check_grad(generic_gradient(d)(params, X, y), numeric, rtol=1e-6, what=f"generic ∇R for σ={sigma}, g={g}")
    check_grad(ref.grad(params, X, y), numeric, rtol=1e-6, what=f"expanded ∇R for σ={sigma}, g={g}")


@SLOW
def test_wrong_gradient_is_caught() -> None:
    d = derive(hidden=2, sigma="tanh", inputs=2)
    params, X, y = random_problem(d, seed=2)
    grad = generic_gradient(d)(params, X, y)
    grad["W2"][0, 1] *= 1.01
    numeric = numeric_grad(lambda prm: reference(d).loss(prm, X, y), params)
    with pytest.raises(AssertionError, match="W2"):
        check_grad(grad, numeric, rtol=1e-6)


def test_vector_outputs_are_not_designed_out() -> None:
    d = derive(hidden=2, sigma="tanh", inputs=2, outputs=2)
    params, X, y = random_problem(d, seed=3)
    assert y.shape == (7, 2)
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    check_grad(generic_gradient(d)(params, X, y), numeric, rtol=1e-6)


def test_derivation_is_deterministic() -> None:
    from symbp.symbolic.derivation import derive as derive_afresh

    assert derive_afresh(hidden=3, sigma="sigmoid").document() == derive_afresh(hidden=3, sigma="sigmoid").document()


def test_symbolic_p_is_allowed() -> None:
    d = derive(hidden=4, sigma="relu")
    assert d.gradients["W2"].limits[-1] == (mo.i, 1, mo.n)
    assert d.spec.hidden == (4,) and d.spec.M == 4


def test_derivation_is_bounded_in_time(monkeypatch) -> None:
    import importlib
    import time

    from symbp.errors import ExpressionError

    derive_module = importlib.import_module("symbp.symbolic.derivation")
    derivatives_module = importlib.import_module("symbp.symbolic.derivatives")

    monkeypatch.setattr(derive_module, "DERIVATION_TIME_LIMIT", 0.05)
    derivatives_module._value_form.cache_clear()
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"did not finish within 0\.05 s; use a simpler expression"):
        derive(hidden=3, sigma="atan(x)*exp(sin(x)**3)/(1+x**2)", g="tanh")
    assert time.monotonic() - started < 5


# --- deeper networks, other losses, the L2 penalty ----------------------------------------------

NETWORKS = [
    # (hidden sizes, sigma, g, outputs, loss, l2[, reduction])
    ((2, 2), "tanh", "identity", 1, "quadratic", 0.0),
    ((2, 3), ("relu", "sigmoid"), "identity", 2, "quadratic", 0.0),
    ((2, 2, 2), "sigmoid", "tanh", 1, "quadratic", 0.0),
    ((2, 2), "x/(1+exp(-x))", "identity", 1, "quadratic", 0.0),
    ((2, 1, 2, 2), "tanh", "identity", 1, "quadratic", 0.0),
    ((3,), "tanh", "sigmoid", 1, "bce", 0.0),
    ((2, 2), "softplus", "sigmoid", 2, "bce", 0.25),
    ((3,), "sigmoid", "identity", 2, "quadratic", 0.1),
    ((2, 2), "tanh", "identity", 2, "quadratic", 0.1, "mean"),
    ((3,), "tanh", "sigmoid", 1, "bce", 0.0, "mean"),
]


def _network(spec, inputs=2):
    hidden, sigma, g, outputs, loss, l2, *reduction = spec
    return derive(hidden=hidden, sigma=sigma, g=g, outputs=outputs, loss=loss, l2=l2, inputs=inputs, reduction=(reduction or ["sum"])[0])


@pytest.mark.parametrize("spec", slow_after(NETWORKS, keep=0), ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}-d{s[3]}-{s[4]}-l2={s[5]}" + "".join(f"-{r}" for r in s[6:]))
def test_deep_and_other_loss_gradients_match_finite_differences(spec) -> None:
    """Depth 1–4, vector outputs, cross-entropy and the penalty: generic formula = expanded R's derivative = finite differences."""
    d = _network(spec)
    params, X, y = random_problem(d, n=5, seed=3)
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    assert set(numeric) == set(d.model.parameters) == {f"{w}{l}" for l in range(1, len(spec[0]) + 2) for w in "Wb"}
    check_grad(ref.grad(params, X, y), numeric, rtol=1e-7, what="expanded reference vs finite differences")
    check_grad(generic_gradient(d)(params, X, y), numeric, rtol=1e-7, what="generic formula vs finite differences")


@pytest.mark.parametrize("spec", slow_after([NETWORKS[4], *NETWORKS[:3], NETWORKS[5]]), ids=lambda s: f"{s[0]}-{s[4]}")
def test_backprop_recursion_equals_the_written_out_gradient(spec) -> None:
    """Each δ^l from δ^{l−1}: the backprop form, with the deltas substituted, is the written-out gradient (and SymPy's direct derivative)."""
    d = _network(spec)
    model = d.model
    sizes = {layer.size: d.spec.size(layer.number) for layer in model.parameter_layers} | {mo.p: 2, mo.n: 3}

    def unfold(expr):
        # Put δ^l in, outermost first, so that δ^{l-1} inside δ^l is then put in too.
        for layer in reversed(model.parameter_layers):
            value = d.deltas[f"delta{layer.number}"]
            expr = expr.replace(
                lambda e, base=layer.delta: isinstance(e, sp.Indexed) and e.base == base,
                lambda e, value=value, unit=layer.unit: value.xreplace({unit: e.indices[1]}),
            )
        return expr

    def added_up(expr):
        # Every sum written out as an addition (Sum.doit would look for closed forms first).
        def add(total: sp.Sum) -> sp.Expr:
            body = total.function
            for index, lower, upper in total.limits:
                body = sp.Add(*(body.xreplace({index: v}) for v in range(int(lower), int(upper) + 1)))
            return body

        return expr.replace(lambda e: isinstance(e, sp.Sum), add)

    rng = np.random.default_rng(0)
    for name, pg in d.parameters.items():
        routes = [unfold(pg.backprop), d.gradient(name)] + ([pg.direct] if pg.direct is not None else [])
        concrete = [added_up(route.xreplace(sizes)) for route in routes]
        # Every named quantity (a, h, f, y, W, …) as an independent number: an identity in all of them.
        for _ in range(3):
            values = {item: sp.Float(rng.uniform(0.1, 0.9)) for route in concrete for item in route.atoms(sp.Indexed)}
            first, *others = [float(route.xreplace(values)) for route in concrete]
            assert others == [pytest.approx(first, rel=1e-12)] * len(others), name



def test_the_direct_derivative_is_taken_for_shallow_networks_only() -> None:
    from symbp.symbolic.derivation import DIRECT_DEPTH

    assert DIRECT_DEPTH == 2
    shallow, deep = derive(hidden=3), _network(NETWORKS[4])
    assert all(pg.direct is not None for pg in shallow.parameters.values())
    assert all(pg.direct is None for pg in deep.parameters.values())


def test_a_wrong_recursion_is_caught_by_the_direct_derivative(monkeypatch) -> None:
    import importlib

    from symbp.errors import InternalError

    derivation = importlib.import_module("symbp.symbolic.derivation")
    right = derivation.written_out
    # δ¹ with the factor 2 of the square forgotten: the recursion's answer is then half SymPy's.
    monkeypatch.setattr(derivation, "written_out", lambda pg, delta1, model: right(pg, delta1 / 2, model))
    with pytest.raises(InternalError, match="the backward recursion and the direct derivative of R disagree for W1"):
        derivation.derive(hidden=2, sigma="sigmoid")


def test_the_written_out_gradient_grows_linearly_with_the_depth() -> None:
    """One sum per layer around the factors that depend on it: the deepest gradient's size is linear in L."""
    sizes = {}
    for depth in (3, 6, 12):
        d = derive(hidden=(2,) * depth)
        gradient = d.gradient(f"W{depth + 1}")
        assert len(gradient.atoms(sp.Sum)) == depth  # one over i and k, then one per hidden layer above the parameter's
        sizes[depth] = sp.count_ops(gradient)
    assert sizes[12] - sizes[6] == 2 * (sizes[6] - sizes[3])


def test_deep_network_names_layers_from_the_output_inwards() -> None:
    d = derive(hidden=(16, 8), outputs=2, sigma="tanh")
    assert d.model.parameters == ("W1", "b1", "W2", "b2", "W3", "b3")
    assert d.spec.size(1) == 2 and d.spec.size(2) == 8 and d.spec.size(3) == 16
    W3 = d.parameters["W3"]
    assert W3.component == d.model.layer(3).W[d.model.layer(3).unit, mo.j]
    assert str(W3.backprop) == "Sum(delta3[i, q]*x[i, j], (i, 1, n))"
    # The recursion: δ³ is computed from δ² alone (reverse mode), never from δ¹ directly.
    assert d.deltas["delta3"].has(d.model.layer(2).delta) and not d.deltas["delta3"].has(mo.delta1)


def test_cross_entropy_cancels_the_logistic_derivative() -> None:
    d = derive(hidden=3, sigma="tanh", g="sigmoid", loss="bce")
    assert d.deltas["delta1"] == mo.f[mo.i, mo.k] - mo.y[mo.i, mo.k]
    assert d.gradients["W1"] == sp.Sum((mo.f[mo.i, mo.k] - mo.y[mo.i, mo.k]) * mo.h[mo.i, mo.m], (mo.i, 1, mo.n))
    stable = d.model.loss_in_z(mo.y[mo.i, mo.k], mo.z[mo.i, mo.k])
    assert sp.simplify(stable - (sp.log(1 + sp.exp(mo.z[mo.i, mo.k])) - mo.y[mo.i, mo.k] * mo.z[mo.i, mo.k])) == 0


def test_l2_penalty_adds_two_lambda_w_to_weights_only() -> None:
    d = derive(hidden=3, l2=0.5)
    assert d.parameters["W2"].penalty == 2 * mo.LAMBDA * mo.W2[mo.m, mo.j]
    assert d.parameters["b2"].penalty == 0 and not d.gradients["b1"].has(mo.LAMBDA)


@SLOW
def test_a_deep_network_is_checked_numerically() -> None:
    """Depth 8, past the direct derivative: the kernel, the written-out gradient and SymPy's expanded R agree with finite differences."""
    from tests.helpers import kernel

    d = derive(hidden=(2, 1, 2, 1, 2, 1, 2, 1), sigma="tanh", g="identity", inputs=2)
    assert all(pg.direct is None for pg in d.parameters.values())
    params, X, y = random_problem(d, n=5, seed=4, scale=1.0)
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    check_grad(kernel(spec=d.spec).loss_and_grad(params, X, y)[1], numeric, rtol=1e-7, what="kernel at depth 8")
    check_grad(ref.grad(params, X, y), numeric, rtol=1e-7, what="expanded R at depth 8")
    check_grad(generic_gradient(d)(params, X, y), numeric, rtol=1e-7, what="written-out gradient at depth 8")


@SLOW
def test_the_kernel_of_a_32_layer_network_matches_finite_differences() -> None:
    """At 32 hidden layers: the gradient the kernel computes by backpropagation against differences of the loss it computes forward."""
    from tests.helpers import kernel

    k = kernel(hidden=(2,) * 32, sigma="tanh", g="sigmoid", outputs=2, loss="bce", l2=0.01)
    rng = np.random.default_rng(5)
    params = {name: 1.2 * value for name, value in k.init_params(3, seed=5).items()} | {f"b{layer}": 0.3 * rng.standard_normal(2) for layer in range(2, 34)}
    X, y = rng.standard_normal((6, 3)), rng.uniform(0, 1, (6, 2))
    _, analytic = k.loss_and_grad(params, X, y)
    check_grad(analytic, numeric_grad(lambda prm: k.loss(prm, X, y), params), rtol=1e-6, what="kernel at depth 32")


@SLOW
def test_mean_is_the_sum_over_n() -> None:
    """With the mean reduction R and every gradient are the sum's divided by n (the penalty's part aside), symbolically and in value."""
    mean, plain = derive(hidden=3, sigma="tanh", inputs=2, reduction="mean"), derive(hidden=3, sigma="tanh", inputs=2)
    assert sp.simplify(mean.model.R - plain.model.R / mo.n) == 0
    for name in plain.parameters:
        assert sp.simplify(mean.gradient(name) - plain.gradient(name) / mo.n) == 0
    params, X, y = random_problem(mean, n=6, seed=2)
    assert reference(mean).loss(params, X, y) == pytest.approx(reference(plain).loss(params, X, y) / 6, rel=1e-12)
    numeric = numeric_grad(lambda prm: reference(mean).loss(prm, X, y), params)
    check_grad(generic_gradient(mean)(params, X, y), numeric, rtol=1e-7, what="mean: generic formula vs finite differences")
    check_grad(reference(mean).grad(params, X, y), numeric, rtol=1e-7, what="mean: expanded reference vs finite differences")


@pytest.mark.parametrize("kwargs", slow_after([{"hidden": 3, "outputs": 3}, {"hidden": (2, 2), "outputs": 2, "reduction": "mean", "l2": 0.1}]), ids=str)
def test_softmax_gradients_match_finite_differences(kwargs) -> None:
    """The classifier: δ¹ = f − y by SymPy's cancellation, the chain with its sum over k', the gradients against finite differences."""
    d = derive(sigma="tanh", loss="softmax", inputs=2, **kwargs)
    assert d.deltas["delta1"] == mo.scale_of(d.spec) * (mo.f[mo.i, mo.k] - mo.y[mo.i, mo.k])
    assert d.parameters["W1"].sum_limits[0] == (mo.k_bound, 1, mo.d)
    params, X, y = random_problem(d, n=5, seed=4)
    ref = reference(d)
    numeric = numeric_grad(lambda prm: ref.loss(prm, X, y), params)
    check_grad(ref.grad(params, X, y), numeric, rtol=1e-7, what="softmax: expanded reference vs finite differences")
    check_grad(generic_gradient(d)(params, X, y), numeric, rtol=1e-7, what="softmax: generic formula vs finite differences")
    # R is −Σ y log softmax(z), evaluated here in NumPy from the parameters alone.
    h = np.tanh(X @ params["W2"].T + params["b2"]) if len(d.spec.hidden) == 1 else None
    if h is not None:
        z = h @ params["W1"].T + params["b1"]
        expected = -np.sum(y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True))))
        assert ref.loss(params, X, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"outputs": 1}, "d >= 2 classes"),
    ({"outputs": 3, "g": "sigmoid"}, "leave --g out"),
])
def test_softmax_spec_is_refused_with_one_line(kwargs, message) -> None:
    from symbp.errors import SpecError
    from symbp.spec.network import make_spec

    with pytest.raises(SpecError, match=message):
        make_spec(loss="softmax", **kwargs)
    with pytest.raises(SpecError, match="--loss softmax"):
        make_spec(g="softmax", outputs=3)
