"""Start-up costs, each measured in a fresh ``python`` subprocess.

* the time from starting ``python`` to the first gradient with an existing
  kernel file, loaded through :func:`symbp.load_kernel` and, for comparison,
  imported as a plain module; the subprocess also reports whether SymPy got
  imported on the way (a kernel needs only NumPy);
* the time to derive and emit a new kernel for several M;
* JAX's import and first-call (compilation) time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from benchmarks.processes import ROOT, last_json, run_python

#: A kernel that ships with symbp: the "existing kernel file".
SHIPPED_KERNEL: Path = ROOT / "generated" / "tanh_identity_m3.py"

# The subprocess body after the kernel is loaded into `k`: one gradient on (1000, 10) data.
_FIRST_GRADIENT = """
import numpy as np
rng = np.random.default_rng(0)
X, y = rng.standard_normal((1000, 10)), rng.standard_normal(1000)
R, g = k.loss_and_grad(k.init_params(10, seed=0), X, y)
print(json.dumps({"sympy_imported": "sympy" in sys.modules}))
"""

#: How each way of loading the kernel is spelt in the subprocess.
LOADERS: dict[str, str] = {
    "symbp.load_kernel": "from symbp.kernel.load import load_kernel\nk = load_kernel(sys.argv[1])",
    "plain import (importlib)": (
        "import importlib.util\n"
        "spec = importlib.util.spec_from_file_location('kernel', sys.argv[1])\n"
        "k = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(k)"
    ),
}

_DERIVE_EMIT = """
import json, sys, tempfile, time
start = time.perf_counter()
import symbp
imported = time.perf_counter()
symbp.emit(symbp.derive(hidden=int(sys.argv[1]), sigma="tanh", g="identity"), tempfile.mkdtemp())
done = time.perf_counter()
print(json.dumps({"import": imported - start, "derive_emit": done - imported}))
"""

_JAX = """
import json, time
start = time.perf_counter()
try:
    import jax
    import jax.numpy as jnp
except ImportError:
    print(json.dumps({"missing": True}))
    raise SystemExit(0)
jax.config.update("jax_enable_x64", True)
imported = time.perf_counter()
import numpy as np
rng = np.random.default_rng(0)
X, y = jnp.asarray(rng.standard_normal((1000, 10))), jnp.asarray(rng.standard_normal(1000))
params = {"W1": jnp.asarray(rng.standard_normal((1, 10))), "b1": jnp.zeros(1),
          "W2": jnp.asarray(rng.standard_normal((10, 10))), "b2": jnp.zeros(10)}
def loss(params, X, y):
    h = jnp.tanh(X @ params["W2"].T + params["b2"])
    return jnp.sum((y[:, None] - h @ params["W1"].T - params["b1"]) ** 2)
value_and_grad = jax.jit(jax.value_and_grad(loss))
begin = time.perf_counter()
jax.block_until_ready(value_and_grad(params, X, y))
first = time.perf_counter()
jax.block_until_ready(value_and_grad(params, X, y))
second = time.perf_counter()
print(json.dumps({"missing": False, "import": imported - start, "first_call": first - begin, "steady_call": second - first}))
"""


@dataclass(frozen=True)
class FirstGradient:
    """Wall time from launching ``python`` to the first gradient, median over runs."""

    loader: str
    seconds: float
    sympy_imported: bool


@dataclass(frozen=True)
class DeriveEmit:
    """Time to derive and emit a kernel for M hidden units in a fresh process (median over runs)."""

    M: int
    import_seconds: float
    derive_emit_seconds: float
    process_seconds: float


@dataclass(frozen=True)
class JaxStartup:
    """JAX's import time and the time of its first jitted value_and_grad call (tracing and compiling) at (1000, 10, 10)."""

    missing: bool
    import_seconds: float = 0.0
    first_call_seconds: float = 0.0
    steady_call_seconds: float = 0.0


@dataclass(frozen=True)
class Startup:
    """Everything this module measures."""

    bare_python_seconds: float
    first_gradient: tuple[FirstGradient, ...]
    derive_emit: tuple[DeriveEmit, ...]
    jax: JaxStartup


def _python(code: str, *args: str) -> tuple[float, str]:
    """Run ``python -c code args`` in a fresh process; its wall time and standard output."""
    return run_python("-c", code, *args)


def first_gradient(loader: str, kernel: Path = SHIPPED_KERNEL, runs: int = 3) -> FirstGradient:
    """Median wall time of a fresh ``python`` that loads ``kernel`` with ``loader`` and computes one gradient."""
    code = "import json, sys\n" + LOADERS[loader] + _FIRST_GRADIENT
    times, imported = [], False
    for _ in range(runs):
        seconds, stdout = _python(code, str(kernel))
        times.append(seconds)
        imported = imported or bool(last_json(stdout)["sympy_imported"])
    return FirstGradient(loader=loader, seconds=statistics.median(times), sympy_imported=imported)


def derive_emit(M: int, runs: int = 1) -> DeriveEmit:
    """Time ``symbp.emit(symbp.derive(hidden=M, ...))`` in fresh processes (median over ``runs``)."""
    rows = []
    for _ in range(runs):
        seconds, stdout = _python(_DERIVE_EMIT, str(M))
        rows.append((seconds, last_json(stdout)))
    process = statistics.median(r[0] for r in rows)
    return DeriveEmit(
        M=M,
        import_seconds=statistics.median(float(r[1]["import"]) for r in rows),
        derive_emit_seconds=statistics.median(float(r[1]["derive_emit"]) for r in rows),
        process_seconds=process,
    )


def jax_startup() -> JaxStartup:
    """JAX's import and compile time in a fresh process, or ``missing`` when JAX is not installed."""
    _, stdout = _python(_JAX)
    data = last_json(stdout)
    if data["missing"]:
        return JaxStartup(missing=True)
    return JaxStartup(
        missing=False,
        import_seconds=float(data["import"]),
        first_call_seconds=float(data["first_call"]),
        steady_call_seconds=float(data["steady_call"]),
    )


def measure_startup(derive_sizes: tuple[int, ...] = (3, 100, 1000), runs: int = 3) -> Startup:
    """All start-up figures; ``runs`` fresh processes for each first-gradient figure."""
    bare = statistics.median(_python("import numpy")[0] for _ in range(runs))
    return Startup(
        bare_python_seconds=bare,
        first_gradient=tuple(first_gradient(loader, runs=runs) for loader in LOADERS),
        derive_emit=tuple(derive_emit(M) for M in derive_sizes),
        jax=jax_startup(),
    )
