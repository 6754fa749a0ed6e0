"""Generated kernels: gradients cross-checked, readable, deterministic, standalone."""

from __future__ import annotations

import ast

import numpy as np
import pytest

import symbp
from tests.helpers import SLOW, derive, kernel, slow_after
from symbp.kernel.emit import emit, render_kernel
from symbp.errors import UserError
from symbp.kernel.load import load_kernel
from symbp.kernel.standard import STANDARD
from symbp.spec.network import make_spec
from symbp.testing import check_grad, numeric_grad, random_problem, reference

SPECS = [*STANDARD, (2, "identity", "exp"), (2, "x**3/3 + sin(x)", "tanh")]


class _Kernels:
    """The kernels of SPECS by spec, each emitted when first asked for."""

    def __getitem__(self, spec):
        return kernel(hidden=spec[0], sigma=spec[1], g=spec[2])


@pytest.fixture(scope="module")
def kernels():
    return _Kernels()


@pytest.mark.parametrize("spec", slow_after(sorted(SPECS, key=lambda s: s != (3, "tanh", "identity"))), ids=lambda s: f"{s[1]}-{s[2]}")
def test_kernel_gradient_matches_reference_and_finite_differences(kernels, spec) -> None:
    k = kernels[spec]
    d = derive(hidden=spec[0], sigma=spec[1], g=spec[2], inputs=2)
    params, X, y = random_problem(d, n=9, seed=5)
    ref = reference(d)
    loss, grad = k.loss_and_grad(params, X, y)
    assert loss == pytest.approx(ref.loss(params, X, y), rel=1e-12)
    check_grad(grad, ref.grad(params, X, y), rtol=1e-8, what="kernel vs lambdified expanded reference")
    check_grad(grad, numeric_grad(lambda prm: k.loss(prm, X, y), params), rtol=1e-8, what="kernel vs finite differences")
    assert k.loss(params, X, y) == loss
    for name, value in k.grad(params, X, y).items():
        np.testing.assert_array_equal(value, grad[name])


def test_vector_output_kernel(tmp_path) -> None:
    d = derive(hidden=3, sigma="tanh", inputs=2, outputs=2)
    k = load_kernel(emit(d, tmp_path))
    params, X, y = random_problem(d, n=8, seed=6)
    check_grad(k.grad(params, X, y), reference(d).grad(params, X, y), rtol=1e-8)
    assert k.forward(params, X).shape == (8, 2)


def test_a_wrong_kernel_is_caught(kernels) -> None:
    k = kernels[(3, "tanh", "identity")]
    d = derive(hidden=3, sigma="tanh", inputs=2)
    params, X, y = random_problem(d, seed=7)
    grad = k.grad(params, X, y)
    grad["b2"] = grad["b2"] * (1 + 1e-6)
    with pytest.raises(AssertionError, match="b2"):
        check_grad(grad, reference(d).grad(params, X, y), rtol=1e-8)


def test_forward_and_init_params_shapes(kernels) -> None:
    k = kernels[(3, "tanh", "identity")]
    params = k.init_params(p=10, seed=0)
    assert {n: v.shape for n, v in params.items()} == {"W1": (1, 3), "b1": (1,), "W2": (3, 10), "b2": (3,)}
    X = np.random.default_rng(0).standard_normal((5, 10))
    assert k.forward(params, X).shape == (5,)
    np.testing.assert_array_equal(k.init_params(p=10, seed=0)["W2"], params["W2"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, X, y: ({**p, "W2": p["W2"][:, :1]}, X, y), r"W2 has shape \(3, 1\); expected \(3, 4\)"),
        (lambda p, X, y: ({k: v for k, v in p.items() if k != "b1"}, X, y), "params is missing b1"),
        (lambda p, X, y: (p, X[:, :2], y), r"W2 has shape \(3, 4\); expected \(3, 2\)"),
        (lambda p, X, y: (p, X, y[:-1]), r"y has shape \(5,\); expected \(6,\)"),
        (lambda p, X, y: (p, X[0], y), r"X has shape \(4,\); expected \(n, p\)"),
    ],
)
def test_kernel_checks_shapes(kernels, change, message) -> None:
    k = kernels[(3, "tanh", "identity")]
    rng = np.random.default_rng(1)
    params, X, y = k.init_params(4), rng.standard_normal((6, 4)), rng.standard_normal(6)
    with pytest.raises(ValueError, match=message):
        k.loss_and_grad(*change(params, X, y))


def test_emit_is_deterministic_and_has_no_paths(tmp_path) -> None:
    d = derive(hidden=3, sigma="x/(1+exp(-x))", g="sigmoid")
    first = emit(d, tmp_path / "a").read_bytes()
    second = emit(derive(hidden=3, sigma="x/(1+exp(-x))", g="sigmoid"), tmp_path / "b").read_bytes()
    assert first == second
    text = first.decode()
    assert str(tmp_path) not in text and "/home" not in text and "/work" not in text
    assert "do not edit by hand" in text and "Spec: hidden M=3" in text and "numpy/kernel.py.jinja" in text


def test_kernel_is_standalone_and_loop_free() -> None:
    text = render_kernel(derive(hidden=3, sigma="softplus", g="tanh"))
    tree = ast.parse(text)
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in getattr(node, "names", [])}
    # NumPy, and the standard library's threads (the BLAS thread count is set through ctypes).
    assert imports == {"numpy", "os", "threading", "ctypes", "concurrent.futures"}
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"init_params", "forward", "loss", "grad", "loss_and_grad", "_forward", "_check", "_loss_block", "_loss_and_grad_block", "_loss_and_grad_arrays"} <= set(functions)
    block_loops = {"loss": "blocks.map(", "_loss_and_grad_arrays": "results"}
    for name in ("_forward", "forward", "loss", "loss_and_grad", "grad", "_loss_block", "_loss_and_grad_block", "_loss_and_grad_arrays"):
        loops = [n for n in ast.walk(functions[name]) if isinstance(n, (ast.For, ast.While, ast.comprehension))]
        # The only loop allowed is over the blocks' results; never over single samples, units or inputs.
        assert all(isinstance(n, ast.For) and ast.unparse(n.iter).startswith(block_loops[name]) for n in loops), name
        assert len(loops) == (1 if name in block_loops else 0), name
        assert ast.get_docstring(functions[name])
    # The shared error term δ¹ is computed once per block and feeds all four gradients.
    body = ast.get_source_segment(text, functions["_loss_and_grad_block"])
    assert body.count("delta1 =") == 1 and "gW1 = numpy.dot(delta1, h.T)" in body and "gW2 = numpy.dot(delta2, X)" in body
    assert "gb2 = numpy.dot(delta2, _ones)" in body  # a sum over the samples is a BLAS product with ones
    # Samples run along the rows (the last axis) of every array but the data: a is (M, n).
    assert '_c0 = numpy.matmul(W2, X.T, out=buffer("forward._c0", M))' in ast.get_source_segment(text, functions["_forward"])
    assert "\\frac{\\partial R}{\\partial W^{2}_{mj}}" in ast.get_docstring(functions["loss_and_grad"])


def test_custom_sigma_needs_no_new_code(tmp_path) -> None:
    d = derive(hidden=2, sigma="x*tanh(softplus(x))", inputs=2)  # Mish
    k = load_kernel(emit(d, tmp_path))
    params, X, y = random_problem(d, seed=8)
    check_grad(k.grad(params, X, y), numeric_grad(lambda prm: k.loss(prm, X, y), params), rtol=1e-8)


def test_bad_kernel_name(tmp_path) -> None:
    with pytest.raises(UserError, match="kernel name"):
        emit(derive(hidden=2), tmp_path, name="../evil")


def test_python_api_from_the_issue(tmp_path) -> None:
    d = symbp.derive(hidden=3, sigma="tanh", g="identity")
    path = symbp.emit(d, tmp_path)
    k = symbp.load_kernel(path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 10))
    y = np.tanh(X[:, 0]) - X[:, 1]
    params = k.init_params(p=10, seed=0)
    R, grad = k.loss_and_grad(params, X, y)
    assert set(grad) == set(params) and all(grad[n].shape == params[n].shape for n in params)
    result = symbp.train(k, X, y, steps=300, step_size="armijo")
    assert result.final_loss < 0.2 * R
    assert len(result.history) == result.steps + 1


def test_blocks_give_the_same_gradient(tmp_path) -> None:
    d = derive(hidden=4, sigma="sigmoid", g="tanh")
    k = load_kernel(emit(d, tmp_path))
    rng = np.random.default_rng(3)
    n = 2 * k.BLOCK + 17  # two full blocks and a partial one
    X, y = rng.standard_normal((n, 3)), rng.standard_normal(n)
    params = k.init_params(3, seed=1)
    R, grad = k.loss_and_grad(params, X, y)
    k.BLOCK = n  # one block
    R1, grad1 = k.loss_and_grad(params, X, y)
    assert R == pytest.approx(R1, rel=1e-12)
    check_grad(grad, grad1, rtol=1e-12)


@SLOW
def test_working_memory_does_not_grow_with_n(tmp_path) -> None:
    import tracemalloc

    k = load_kernel(emit(derive(hidden=50, sigma="tanh"), tmp_path))
    rng = np.random.default_rng(0)
    n, p, M = 100_000, 50, 50  # the size the performance issue names
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    params = k.init_params(p)
    k.loss_and_grad(params, X, y)
    tracemalloc.start()
    k.loss_and_grad(params, X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < n * M * 8 / 4, f"peak {peak} bytes"


# --- beyond the reference case: deeper networks, vector outputs, cross-entropy, L2 ------------------

BEYOND = [
    # make_spec arguments (p = 2 for the expanded reference)
    {"hidden": 2, "sigma": "tanh", "outputs": 3},
    {"hidden": (3, 2), "sigma": "tanh", "outputs": 2},
    {"hidden": (2, 3), "sigma": ("relu", "x/(1+exp(-x))")},
    {"hidden": (2, 2, 2), "sigma": "sigmoid", "g": "tanh"},
    {"hidden": (2, 1, 2, 2), "sigma": "tanh"},
    {"hidden": 3, "sigma": "tanh", "g": "sigmoid", "loss": "bce"},
    {"hidden": (2, 2), "sigma": "softplus", "g": "sigmoid", "loss": "bce", "outputs": 2, "l2": 0.25},
    {"hidden": 3, "sigma": "sigmoid", "l2": 0.1},
    {"hidden": 3, "sigma": "tanh", "outputs": 2, "l2": 0.1, "reduction": "mean"},
    {"hidden": (2, 2), "sigma": "tanh", "g": "sigmoid", "loss": "bce", "reduction": "mean"},
    {"hidden": 3, "sigma": "tanh", "loss": "softmax", "outputs": 3},
    {"hidden": (2, 2), "sigma": "sigmoid", "loss": "softmax", "outputs": 2, "reduction": "mean", "l2": 0.1},
]


@pytest.mark.parametrize("kwargs", slow_after(BEYOND, keep=0), ids=lambda kw: make_spec(**kw).name)
def test_beyond_kernels_match_reference_and_finite_differences(tmp_path, kwargs) -> None:
    """Symbolic-p kernels for depth 1–4, d > 1, cross-entropy and the penalty against the expanded R and finite differences."""
    k = load_kernel(emit(derive(**kwargs), tmp_path))
    d = derive(**kwargs, inputs=2)
    params, X, y = random_problem(d, n=9, seed=8)
    ref = reference(d)
    loss, grad = k.loss_and_grad(params, X, y)
    assert tuple(grad) == k.PARAMETERS == d.model.parameters
    assert loss == pytest.approx(ref.loss(params, X, y), rel=1e-12)
    check_grad(grad, ref.grad(params, X, y), rtol=1e-8, what="kernel vs lambdified expanded reference")
    check_grad(grad, numeric_grad(lambda prm: k.loss(prm, X, y), params), rtol=1e-8, what="kernel vs finite differences")
    assert {name: v.shape for name, v in k.init_params(2).items()} == {name: v.shape for name, v in params.items()}


@SLOW
def test_deep_kernel_costs_a_constant_number_of_matrix_products_per_layer() -> None:
    """Reverse mode: each layer adds the same statements to the backward pass, never a number growing with depth."""
    counts = []
    for depth in (1, 2, 3, 4):
        text = render_kernel(derive(hidden=(3,) * depth, sigma="tanh"))
        backward = text.split("def _loss_and_grad_block(")[1].split("return R")[0]
        counts.append(backward.count("@") + backward.count("numpy.dot(") + backward.count("numpy.matmul("))
    steps = [b - a for a, b in zip(counts, counts[1:])]
    # δ^l = (δ^{l-1} W^{l-1}) ⊙ σ′, g_W = δᵀ h and g_b = 1ᵀ δ (the forward pass's W h is in _forward)
    assert steps == [steps[0]] * 3 and steps[0] == 3, counts


def test_cross_entropy_kernel_is_finite_where_the_logistic_saturates(tmp_path) -> None:
    k = load_kernel(emit(derive(hidden=3, sigma="tanh", g="sigmoid", loss="bce"), tmp_path))
    params = k.init_params(2, seed=0)
    params["b1"] = np.array([800.0])  # f rounds to 1: log(1 − f) would be −inf
    X = np.zeros((4, 2))
    y = np.array([0.0, 1.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = k.loss_and_grad(params, X, y)
    assert loss == pytest.approx(2 * 800.0, rel=1e-6)
    assert all(np.isfinite(v).all() for v in grad.values())


def test_l2_penalty_is_added_once_not_per_block(tmp_path) -> None:
    k = load_kernel(emit(derive(hidden=3, sigma="tanh", l2=0.5), tmp_path))
    plain = load_kernel(emit(derive(hidden=3, sigma="tanh"), tmp_path))
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((5000, 2)), rng.standard_normal(5000)  # three blocks of samples
    params = k.init_params(2, seed=1)
    loss, grad = k.loss_and_grad(params, X, y)
    loss0, grad0 = plain.loss_and_grad(params, X, y)
    assert loss == pytest.approx(loss0 + 0.5 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)), rel=1e-12)
    np.testing.assert_allclose(grad["W2"], grad0["W2"] + 2 * 0.5 * params["W2"], rtol=1e-12)
    np.testing.assert_array_equal(grad["b2"], grad0["b2"])


def test_the_stages_called_one_by_one_give_the_kernel() -> None:
    from symbp.kernel.context import TEMPLATE, kernel_context, layout
    from symbp.kernel.format import BODY_HASH_PREFIX
    from symbp.kernel.lower import lower_kernel
    from symbp.kernel.printing import Buffers, print_schedule
    from symbp.kernel.programs import Blocks, kernel_programs
    from symbp.kernel.schedule import schedule
    from symbp.render import render
    from symbp.symbolic.model import k

    d = derive(hidden=3, sigma="tanh")
    lowered = lower_kernel(kernel_programs(d))
    scheduled = lowered.map(lambda operations, blocked: schedule(operations, blocked, frozenset({k})))
    sizes = layout(d).sizes
    # The forward pass and the blocks' bodies write into the kernel's kept arrays; the final steps do not.
    printed = Blocks(**{name: print_schedule(body, Buffers(sizes, name) if name in ("forward", "loss", "grad") else None) for name, body in scheduled.items()})
    body = render(TEMPLATE, k=kernel_context(d, printed))
    assert render_kernel(d).startswith(body + BODY_HASH_PREFIX)


def test_mean_kernel_is_the_sum_kernel_over_n_across_blocks(tmp_path) -> None:
    """R and ∇R of the mean are the sum's divided by the n rows given, also over several blocks (1/n applied once)."""
    mean = load_kernel(emit(derive(hidden=3, sigma="tanh", outputs=2, l2=0.5, reduction="mean"), tmp_path))
    plain = load_kernel(emit(derive(hidden=3, sigma="tanh", outputs=2, l2=0.5), tmp_path))
    rng = np.random.default_rng(4)
    n = 2 * mean.BLOCK + 17
    X, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    params = mean.init_params(2, seed=3)
    penalty = 0.5 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    loss, grad = mean.loss_and_grad(params, X, y)
    loss0, grad0 = plain.loss_and_grad(params, X, y)
    assert loss == pytest.approx((loss0 - penalty) / n + penalty, rel=1e-12)
    assert mean.loss(params, X, y) == pytest.approx(loss, rel=1e-12)
    for name in grad:
        decay = 2 * 0.5 * params[name] if name.startswith("W") else 0.0
        np.testing.assert_allclose(grad[name], (grad0[name] - decay) / n + decay, rtol=1e-11, atol=1e-15)
    # A mini-batch is divided by its own size, as other libraries do.
    batch_loss, _ = mean.loss_and_grad(params, X[:10], y[:10])
    assert batch_loss == pytest.approx((plain.loss(params, X[:10], y[:10]) - penalty) / 10 + penalty, rel=1e-12)
    assert mean.SPEC["reduction"] == "mean" and "reduction" not in plain.SPEC
    assert make_spec(reduction="mean").name == "tanh_identity_m3_mean"


def _numpy_cross_entropy(k, params, X, Y) -> float:
    """−Σ_i Σ_k y log softmax(z), the network evaluated in plain NumPy (independent of the kernel's statements)."""
    h = np.tanh(X @ params["W2"].T + params["b2"])
    z = h @ params["W1"].T + params["b1"]
    z = z - z.max(axis=1, keepdims=True)
    return float(-np.sum(Y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))))


def test_softmax_kernel_matches_numpy_and_is_finite_at_large_logits(tmp_path) -> None:
    """The classifier's R against NumPy's, its gradient against finite differences; at logits of ±1e4 R, f, ∇R stay finite."""
    k = load_kernel(emit(derive(hidden=3, sigma="tanh", loss="softmax", outputs=3), tmp_path))
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((20, 2)), np.eye(3)[rng.integers(0, 3, 20)]
    params = k.init_params(2, seed=2)
    loss, grad = k.loss_and_grad(params, X, Y)
    assert loss == pytest.approx(_numpy_cross_entropy(k, params, X, Y), rel=1e-12)
    check_grad(grad, numeric_grad(lambda prm: k.loss(prm, X, Y), params), rtol=1e-8, what="softmax kernel vs finite differences")
    np.testing.assert_allclose(k.forward(params, X).sum(axis=1), 1.0, rtol=1e-14)
    # Logits of ±1e4: e^z overflows, the log-sum-exp does not; the wrong class costs 2e4 per sample.
    huge = dict(params, W1=np.zeros((3, 3)), b1=np.array([1e4, -1e4, 0.0]))
    loss, grad = k.loss_and_grad(huge, X, np.eye(3)[np.full(20, 1)])
    assert loss == pytest.approx(20 * 2e4, rel=1e-12)
    assert all(np.isfinite(v).all() for v in grad.values()) and np.isfinite(k.forward(huge, X)).all()
    np.testing.assert_allclose(grad["b1"], [20.0, -20.0, 0.0], atol=1e-12)
