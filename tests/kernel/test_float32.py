"""Kernels emitted with --dtype float32: they compute in float32 end to end, keep their overflow-free forms, and
meet the accuracy contract they state (symbp/kernel/context.py: FLOAT32_GRADIENT_BOUND, FLOAT32_LOSS_BOUND)
against the float64 kernel of the same spec, against finite differences and against PyTorch's float32 autograd."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.kernel.context import FLOAT32_GRADIENT_BOUND, FLOAT32_LOSS_BOUND
from symbp.spec.network import make_spec
from symbp.testing import check_grad, numeric_grad
from tests.helpers import kernel, slow_after, under_ci

GRADIENT_BOUND = float(FLOAT32_GRADIENT_BOUND)
LOSS_BOUND = float(FLOAT32_LOSS_BOUND)

#: σ, g, loss, depth and the mean and penalty: the specs the contract is tested on (the first in the quick loop).
SPECS = [
    dict(hidden=3, sigma="tanh"),
    dict(hidden=8, sigma="sigmoid", g="sigmoid", loss="bce"),
    dict(hidden=8, sigma="relu", loss="softmax", outputs=3),
    dict(hidden=(16, 8), sigma="softplus"),
    dict(hidden=(16, 8), sigma="tanh", g="sigmoid", loss="bce", reduction="mean", l2=0.01),
    dict(hidden=5, sigma="x*sqrt(2)/(1+exp(-x))", g="tanh", outputs=2),
]


def kernels(spec: dict):
    """The float32 kernel of a spec and its float64 kernel."""
    return kernel(spec=make_spec(**spec, dtype="float32")), kernel(spec=make_spec(**spec))


def problem(k, n: int, p: int, seed: int, scale: float = 1.0):
    """Parameters from the float32 kernel's init_params and float32 data fitting its loss: inputs every kernel reads alike."""
    rng = np.random.default_rng(seed)
    X = (scale * rng.standard_normal((n, p))).astype(np.float32)
    loss = k.SPEC["loss"]
    if loss == "softmax":
        y = np.eye(k.D)[rng.integers(0, k.D, n)]
    elif loss == "bce":
        y = rng.integers(0, 2, (n, k.D)).astype(float)
    else:
        y = rng.standard_normal((n, k.D))
    return k.init_params(p, seed=seed), X, y.astype(np.float32)


#: float32's smallest normal number: an array of the gradient below it (tanh saturated: 1 − h² underflows) is 0 in
#: float32, and the contract allows that much besides its relative bound.
TINY = float(np.finfo(np.float32).tiny)


def relative(got: dict, want: dict) -> float:
    """The largest over the gradient's arrays of ‖got − want‖ / ‖want‖ (‖want‖ at least TINY / bound: see TINY)."""
    return max(float(np.linalg.norm(got[n] - want[n]) / max(np.linalg.norm(want[n]), TINY / GRADIENT_BOUND)) for n in want)


@pytest.mark.parametrize("spec", slow_after(SPECS), ids=lambda s: make_spec(**s).name)
def test_every_array_is_float32_and_R_a_python_float(spec):
    k32, _ = kernels(spec)
    params, X, y = problem(k32, 50, 4, seed=0)
    assert all(value.dtype == np.float32 for value in params.values())
    intermediates = k32._forward(*(params[name] for name in k32.PARAMETERS), X, k32._Arrays(X, keep=False))
    assert [a.dtype for a in intermediates] == [np.float32] * len(intermediates)
    R, grad = k32.loss_and_grad(params, X, y)
    assert type(R) is float and type(k32.loss(params, X, y)) is float
    assert all(g.dtype == np.float32 for g in grad.values())
    assert k32.forward(params, X).dtype == np.float32


@pytest.mark.parametrize("spec", slow_after(SPECS), ids=lambda s: make_spec(**s).name)
def test_the_contract_against_the_float64_kernel(spec):
    """Over seeds, sizes and n beyond a block, on inputs both kernels read alike (float32 values)."""
    k32, k64 = kernels(spec)
    for seed, (n, p) in enumerate([(40, 4), (3000, 30), (k32.BLOCK + 1234, 10)]):
        params, X, y = problem(k32, n, p, seed)
        R32, g32 = k32.loss_and_grad(params, X, y)
        R64, g64 = k64.loss_and_grad(params, X.astype(float), y.astype(float))
        assert relative(g32, g64) <= GRADIENT_BOUND, (n, p)
        assert abs(R32 - R64) <= LOSS_BOUND * (abs(R64) + n), (n, p)


#: Smooth networks only: central differences across relu's kink are not a derivative.
SMOOTH = [dict(hidden=4, sigma="tanh", loss="softmax", outputs=3), SPECS[0], SPECS[3], SPECS[4]]


@pytest.mark.parametrize("spec", slow_after(SMOOTH), ids=lambda s: make_spec(**s).name)
def test_the_float64_kernel_it_is_held_to_agrees_with_finite_differences(spec):
    """The reference of the contract is itself right: the float64 kernel against central differences of its own R,
    and the float32 kernel within its bound of those differences."""
    k32, k64 = kernels(spec)
    params, X, y = problem(k32, 12, 3, seed=1)
    params64 = {name: value.astype(float) for name, value in params.items()}
    numeric = numeric_grad(lambda q: k64.loss(q, X, y), params64)
    check_grad(k64.grad(params64, X, y), numeric, rtol=1e-7)
    assert relative(k32.grad(params, X, y), numeric) <= GRADIENT_BOUND


def test_a_float32_kernel_that_upcast_would_be_seen():
    """The dtype test can fail: a float64 scalar (what numpy.sqrt(2) is) turns a float32 array into float64."""
    a = np.ones(3, dtype=np.float32)
    assert (a * np.sqrt(2)).dtype == np.float64 and (a * 1.4142135623730951).dtype == np.float32


# --- the overflow-free forms, where float32 overflows first (e^z beyond z ≈ 88) ----------------------


@pytest.mark.parametrize("logit", slow_after([200.0, 1000.0]))
def test_cross_entropy_at_large_logits_stays_finite_and_agrees(logit):
    k32, k64 = kernels(dict(hidden=3, sigma="tanh", g="sigmoid", loss="bce"))
    params = {"W1": np.array([[logit, -logit, logit]], np.float32), "b1": np.zeros(1, np.float32),
              "W2": np.eye(3, 2, dtype=np.float32) * 50, "b2": np.zeros(3, np.float32)}
    X = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], np.float32)
    y = np.array([0, 1, 1, 0], np.float32)  # the wrong class at |z| = logit: R ≈ 2 · logit
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # e^{-z} underflowing to 0 is right
        R32, g32 = k32.loss_and_grad(params, X, y)
    R64, g64 = k64.loss_and_grad(params, X.astype(float), y.astype(float))
    assert np.isfinite(R32) and abs(R32 - R64) <= LOSS_BOUND * abs(R64)
    assert all(np.isfinite(g).all() for g in g32.values()) and relative(g32, g64) <= GRADIENT_BOUND


@pytest.mark.parametrize("logit", slow_after([200.0, 1000.0]))
def test_softmax_at_large_logits_stays_finite_and_agrees(logit):
    k32, k64 = kernels(dict(hidden=3, sigma="tanh", loss="softmax", outputs=3))
    params = {"W1": np.array([[logit, 0, 0], [0, logit, 0], [0, 0, -logit]], np.float32), "b1": np.zeros(3, np.float32),
              "W2": np.eye(3, 2, dtype=np.float32) * 50, "b2": np.zeros(3, np.float32)}
    X = np.array([[1, 1], [-1, -1], [1, -1]], np.float32)
    y = np.eye(3, dtype=np.float32)[[2, 0, 1]]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        R32, g32 = k32.loss_and_grad(params, X, y)
        f = k32.forward(params, X)
    R64, g64 = k64.loss_and_grad(params, X.astype(float), y.astype(float))
    assert np.isfinite(R32) and R32 > logit and abs(R32 - R64) <= LOSS_BOUND * abs(R64)
    # The logits themselves are rounded to float32's spacing at |z| = logit: f is as exact as they are.
    assert np.isfinite(f).all() and np.allclose(f.sum(axis=1), 1, atol=4 * np.finfo(np.float32).eps * logit)
    assert relative(g32, g64) <= GRADIENT_BOUND


# --- PyTorch's float32 autograd, an independent evaluation in the same precision ----------------------


def torch_loss_and_grad(k, params, X, y):
    """R and ∇R of the kernel's network written in PyTorch (float32) and differentiated by its autograd."""
    try:
        import torch
    except ImportError:
        if under_ci():
            pytest.fail("torch is missing under CI: .ci/run must install the [bench] extra's torch")
        pytest.skip("torch not installed (pip install the [bench] extra's torch to compare with PyTorch)")
    spec = k.SPEC
    weights = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    activation = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
                  "softplus": torch.nn.functional.softplus}[spec["sigma"]]
    h = torch.tensor(X)
    for layer in range(len(params) // 2, 1, -1):  # from the input towards the output: W_{L+1} first
        h = activation(h @ weights[f"W{layer}"].T + weights[f"b{layer}"])
    z = h @ weights["W1"].T + weights["b1"]
    Y = torch.tensor(y.reshape(len(y), -1))
    if spec["loss"] == "softmax":
        R = -(Y * torch.log_softmax(z, dim=1)).sum()
    elif spec["loss"] == "bce":
        R = torch.nn.functional.binary_cross_entropy_with_logits(z, Y, reduction="sum")
    else:
        f = {"identity": z, "sigmoid": torch.sigmoid(z), "tanh": torch.tanh(z)}[spec["g"]]
        R = ((Y - f) ** 2).sum()
    if spec.get("reduction") == "mean":
        R = R / len(X)
    R = R + spec.get("l2", 0.0) * sum((w**2).sum() for name, w in weights.items() if name.startswith("W"))
    R.backward()
    return R.item(), {name: w.grad.numpy() for name, w in weights.items()}


@pytest.mark.parametrize("spec", slow_after(SPECS[:5]), ids=lambda s: make_spec(**s).name)
def test_as_accurate_as_pytorch_float32(spec):
    """Against PyTorch's float32 gradient within the contract, and about as close to the float64 kernel as PyTorch is."""
    k32, k64 = kernels(spec)
    params, X, y = problem(k32, 3000, 20, seed=2)
    R_torch, g_torch = torch_loss_and_grad(k32, params, X, y)
    R32, g32 = k32.loss_and_grad(params, X, y)
    _, g64 = k64.loss_and_grad(params, X.astype(float), y.astype(float))
    assert relative(g32, g_torch) <= GRADIENT_BOUND
    assert abs(R32 - R_torch) <= LOSS_BOUND * (abs(R_torch) + len(X))
    assert relative(g32, g64) <= max(10 * relative(g_torch, g64), 1e-6)
