"""The references a kernel is timed against, and the check that each computes the kernel's (R, ∇R).

Every peer prepares, for one case, a zero-argument ``call`` (what is timed) and
a ``result`` giving (R, gradient) in the kernel's layout (W1 (1, M), b1 (1,),
W2 (M, p), b2 (M,)), which the driver compares with the kernel's before any
timing.  The floor is not a gradient and has no ``result``.

A peer imports its library only in :meth:`prepare`; an ImportError there means
the library is missing, which the driver reports instead of dropping the row.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from benchmarks.cases import Case, Problem
from benchmarks.threads import TORCH_THREADS

#: (R, gradient dict) in the kernel's layout.
Result = tuple[float, dict[str, np.ndarray]]

#: The names of the parameters, in the kernel's order.
PARAMETERS: tuple[str, ...] = ("W1", "b1", "W2", "b2")

#: Largest relative difference from the kernel for a peer to count as computing the same thing.
RTOL: float = 1e-8
#: The same for a float32 kernel and float32 peers: each rounds in its own order, about 1e-6 of an array's largest
#: entry at the large sizes; a peer that computed something else would differ by far more.
RTOL_FLOAT32: float = 1e-4


def rtol_for(reference: Result) -> float:
    """:data:`RTOL`, or :data:`RTOL_FLOAT32` when the kernel's answer is float32."""
    return RTOL_FLOAT32 if np.asarray(reference[1]["W1"]).dtype == np.float32 else RTOL

#: What to tell the user when a peer's library is not installed.
INSTALL_HINT: str = "missing (pip install -e '.[bench]')"


@dataclass(frozen=True)
class Prepared:
    """A peer ready to run on one case.

    Attributes:
        call: one evaluation, the thing timed (it blocks until the result exists).
        result: (R, gradient) in the kernel's layout, for the check; None for the floor.
    """

    call: Callable[[], object]
    result: Callable[[], Result] | None


class Peer(Protocol):
    """A reference implementation: a name for the table and a way to prepare it for a case."""

    name: str

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        """Build the timed call; raises ImportError when the library is not installed."""
        ...


def relative_difference(kernel: Result, peer: Result) -> float:
    """The largest relative difference between two (R, gradient) pairs.

    Each array (and R) is compared as max |peer − kernel| / max |kernel|, so a
    component that happens to be near zero is judged on the scale of its array.
    A missing key or a wrong shape counts as infinitely different.
    """
    R_kernel, g_kernel = kernel
    R_peer, g_peer = peer
    worst = abs(R_peer - R_kernel) / max(abs(R_kernel), np.finfo(float).tiny)
    for name in PARAMETERS:
        if name not in g_peer or np.shape(g_peer[name]) != np.shape(g_kernel[name]):
            return float("inf")
        scale = max(float(np.max(np.abs(g_kernel[name]))), np.finfo(float).tiny)
        worst = max(worst, float(np.max(np.abs(np.asarray(g_peer[name]) - g_kernel[name]))) / scale)
    return float(worst)


# --- (a) hand-written NumPy -------------------------------------------------------


def numpy_backprop(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, sigma: str) -> Result:
    """Textbook backpropagation of R = Σᵢ (yᵢ − f(xᵢ))², f = W1 σ(W2 x + b2) + b1, written by hand.

    This is the one hand-written gradient in symbp, and it is legitimate only
    here: it is a peer to time the generated kernel against (straightforward
    code, the way a user would write it: forward pass, δ's, matrix products),
    never a source of gradients for symbp itself.
    """
    W1, b1, W2, b2 = (params[name] for name in PARAMETERS)
    # Forward pass.
    a = X @ W2.T + b2
    if sigma == "tanh":
        h = np.tanh(a)
        dh = 1 - h**2
    else:
        h = 1 / (1 + np.exp(-a))
        dh = h * (1 - h)
    f = h @ W1.T + b1
    r = f - y[:, None]
    R = float(np.sum(r**2))
    # Backward pass: δ¹ = ∂R/∂z, δ² = ∂R/∂a.
    delta1 = 2 * r
    delta2 = (delta1 @ W1) * dh
    return R, {"W1": delta1.T @ h, "b1": delta1.sum(axis=0), "W2": delta2.T @ X, "b2": delta2.sum(axis=0)}


class HandWrittenNumPy:
    """(a) :func:`numpy_backprop`."""

    name = "NumPy by hand"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        def call() -> Result:
            return numpy_backprop(problem.params, problem.X, problem.y, case.sigma)

        return Prepared(call=call, result=call)


# --- (b) JAX ------------------------------------------------------------------------


class Jax:
    """(b) ``jax.jit(jax.value_and_grad(loss))`` on the CPU in the problem's type (float64, or float32 with x64 off);
    data and parameters placed on the device once."""

    name = "JAX jit"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        import jax
        import jax.numpy as jnp

        wanted = problem.X.dtype
        jax.config.update("jax_enable_x64", wanted == np.float64)
        jax.config.update("jax_platforms", "cpu")
        activation = jnp.tanh if case.sigma == "tanh" else jax.nn.sigmoid

        def loss(params: dict[str, jax.Array], X: jax.Array, y: jax.Array) -> jax.Array:
            h = activation(X @ params["W2"].T + params["b2"])
            f = h @ params["W1"].T + params["b1"]
            return jnp.sum((y[:, None] - f) ** 2)

        value_and_grad = jax.jit(jax.value_and_grad(loss))
        params = {name: jax.device_put(value) for name, value in problem.params.items()}
        X, y = jax.device_put(problem.X), jax.device_put(problem.y)
        if X.dtype != wanted:
            raise RuntimeError(f"JAX computes in {X.dtype}, not {wanted}: jax_enable_x64 did not take effect")

        def call() -> object:
            return jax.block_until_ready(value_and_grad(params, X, y))

        def result() -> Result:
            R, grads = call()
            return float(R), {name: np.asarray(grads[name]) for name in PARAMETERS}

        return Prepared(call=call, result=result)


# --- (c) PyTorch ----------------------------------------------------------------------


class Torch:
    """(c) PyTorch autograd on the CPU in the problem's type (float64 or float32): forward, then ``torch.autograd.grad``.

    Its thread count comes from :data:`benchmarks.threads.TORCH_THREADS` (two when unset).
    """

    name = "PyTorch autograd"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        import torch

        torch.set_num_threads(int(os.environ.get(TORCH_THREADS, "2")))
        W1, b1, W2, b2 = (torch.tensor(problem.params[name], requires_grad=True) for name in PARAMETERS)
        X, y = torch.from_numpy(problem.X), torch.from_numpy(problem.y)
        activation = torch.tanh if case.sigma == "tanh" else torch.sigmoid

        def call() -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            h = activation(X @ W2.T + b2)
            f = h @ W1.T + b1
            R = torch.sum((y[:, None] - f) ** 2)
            return R, torch.autograd.grad(R, (W1, b1, W2, b2))

        def result() -> Result:
            R, grads = call()
            return float(R.detach()), {name: g.numpy() for name, g in zip(PARAMETERS, grads)}

        return Prepared(call=call, result=result)


# --- (d) scikit-learn -------------------------------------------------------------


class ScikitLearn:
    """(d) scikit-learn's own backpropagation, ``MLPRegressor._backprop``, on the kernel's weights.

    scikit-learn's loss is ½·mean squared error, so its loss and gradients are
    R/(2n) and ∇R/(2n); :meth:`prepare`'s ``result`` multiplies by 2n, and the
    check against the kernel verifies that this is the right factor.
    """

    name = "scikit-learn MLP"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        from sklearn.neural_network import MLPRegressor

        n, p = problem.X.shape
        M = problem.params["W2"].shape[0]
        mlp = MLPRegressor(hidden_layer_sizes=(M,), activation="tanh" if case.sigma == "tanh" else "logistic", alpha=0.0)
        # What fit() would set up: the layers, the output activation and the weights (sklearn's are transposed).
        mlp.n_layers_ = 3
        mlp.n_outputs_ = 1
        mlp.out_activation_ = "identity"
        mlp.coefs_ = [problem.params["W2"].T.copy(), problem.params["W1"].T.copy()]
        mlp.intercepts_ = [problem.params["b2"].copy(), problem.params["b1"].copy()]
        X, Y = problem.X, problem.y.reshape(-1, 1)
        activations: list[np.ndarray | None] = [X, None, None]
        deltas: list[np.ndarray | None] = [None, None]
        coef_grads = [np.empty((p, M)), np.empty((M, 1))]
        intercept_grads = [np.empty(M), np.empty(1)]
        # scikit-learn 1.5 added sample_weight to _backprop.
        weighted = "sample_weight" in inspect.signature(mlp._backprop).parameters
        extra = (None,) if weighted else ()

        def call() -> tuple[float, list[np.ndarray], list[np.ndarray]]:
            return mlp._backprop(X, Y, *extra, activations, deltas, coef_grads, intercept_grads)

        def result() -> Result:
            loss, coefs, intercepts = call()
            scale = 2.0 * n
            grads = {"W1": coefs[1].T * scale, "b1": intercepts[1] * scale, "W2": coefs[0].T * scale, "b2": intercepts[0] * scale}
            return float(loss) * scale, grads

        return Prepared(call=call, result=result)


# --- (e) the floor ------------------------------------------------------------------


class Floor:
    """(e) What no kernel can avoid: X @ W2ᵀ, one pass of σ over the n × M pre-activations, δ²ᵀ @ X.

    The products write into preallocated arrays and σ is computed in place, in
    the kernel's own form (np.tanh, or the logistic as 0.5 + 0.5·tanh(0.5·a)).
    It computes no gradient, so there is nothing to check.
    """

    name = "floor"

    def prepare(self, case: Case, problem: Problem) -> Prepared:
        X, W2 = problem.X, problem.params["W2"]
        n, p = X.shape
        M = W2.shape[0]
        a = np.empty((n, M), dtype=X.dtype)
        gW2 = np.empty((M, p), dtype=X.dtype)
        delta2 = np.random.default_rng(1).standard_normal((n, M)).astype(X.dtype, copy=False)
        logistic = case.sigma != "tanh"

        def call() -> np.ndarray:
            np.matmul(X, W2.T, out=a)
            if logistic:
                np.multiply(a, 0.5, out=a)
                np.tanh(a, out=a)
                np.multiply(a, 0.5, out=a)
                np.add(a, 0.5, out=a)
            else:
                np.tanh(a, out=a)
            return np.matmul(delta2.T, X, out=gW2)

        return Prepared(call=call, result=None)


#: Every peer, in table order.
PEERS: tuple[Peer, ...] = (HandWrittenNumPy(), Jax(), Torch(), ScikitLearn(), Floor())
#: The peers of a float32 run: scikit-learn's backpropagation computes in float64 whatever its weights, so it is left out.
PEERS_FLOAT32: tuple[Peer, ...] = tuple(p for p in PEERS if p.name != "scikit-learn MLP")
