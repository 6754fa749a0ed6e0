"""What is measured: the problem sizes, the data, and the generated kernels under test."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np


@dataclass(frozen=True)
class Size:
    """A problem size: n samples, p inputs, M hidden units."""

    n: int
    p: int
    M: int

    def __str__(self) -> str:
        n = f"{self.n:,}".replace(",", " ")  # 100 000, as the issue writes it
        return f"({n}, {self.p}, {self.M})"


#: The sizes of the performance issue, smallest first.
SIZES: tuple[Size, ...] = (Size(1_000, 10, 10), Size(10_000, 100, 100), Size(100_000, 50, 50))
#: The largest size: the one where peak memory is measured.
MEMORY_SIZE: Size = SIZES[-1]
#: The activations benchmarked (g is always the identity).
SIGMAS: tuple[str, ...] = ("tanh", "sigmoid")
#: The floating-point types a run can time: float64 (the issue's targets) or float32 (``--dtype float32``).
DTYPES: tuple[str, ...] = ("float64", "float32")


def sizes_for(choice: str) -> tuple[Size, ...]:
    """The sizes for ``--sizes small`` (the smallest only) or ``--sizes all``."""
    if choice == "small":
        return SIZES[:1]
    if choice == "all":
        return SIZES
    raise ValueError(f"--sizes must be 'small' or 'all', not {choice!r}")


@dataclass(frozen=True)
class Case:
    """One row group of the table: a size and an activation."""

    size: Size
    sigma: str


# eq=False: arrays inside make the generated __eq__ ambiguous.
@dataclass(frozen=True, eq=False)
class Problem:
    """Data and parameters shared by the kernel and every peer for one case.

    Attributes:
        X: inputs (n, p), in the kernel's floating-point type (float64, or float32 for a float32 kernel), C-contiguous.
        y: targets (n,), of the same type.
        params: W1 (1, M), b1 (1,), W2 (M, p), b2 (M,), as ``kernel.init_params``
            gives them, with nonzero biases so that their gradients are exercised.
    """

    X: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]


def make_problem(kernel: ModuleType, size: Size, seed: int = 0) -> Problem:
    """Standard-normal inputs, targets unrelated to the network, and the kernel's own initial parameters.

    In the kernel's floating-point type (its DTYPE; float64 without one): a float32 kernel and its float32
    peers get the float64 problem rounded, made once here rather than converted in every call.
    """
    dtype = np.dtype(getattr(kernel, "DTYPE", np.float64))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((size.n, size.p)).astype(dtype, copy=False)
    y = rng.standard_normal(size.n).astype(dtype, copy=False)
    params = kernel.init_params(size.p, seed=seed)
    params["b1"] = (rng.standard_normal(params["b1"].shape) * 0.1).astype(dtype, copy=False)
    params["b2"] = (rng.standard_normal(params["b2"].shape) * 0.1).astype(dtype, copy=False)
    return Problem(X=X, y=y, params=params)


class Kernels:
    """Derives, emits and loads kernels on demand into one temporary folder, each once."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="symbp-bench-")
        self._loaded: dict[tuple[str, int, str], ModuleType] = {}

    @property
    def folder(self) -> Path:
        """Where the kernels are written."""
        return Path(self._folder.name)

    def get(self, sigma: str, M: int, dtype: str = "float64") -> ModuleType:
        """The kernel for f = W1 σ(W2 x + b2) + b1 with M hidden units, computing in ``dtype``."""
        import symbp  # here, not at the top: the worker processes use this module without SymPy

        key = (sigma, M, dtype)
        if key not in self._loaded:
            path = symbp.emit(symbp.derive(hidden=M, sigma=sigma, g="identity", dtype=dtype), self.folder)
            self._loaded[key] = symbp.load_kernel(path)
        return self._loaded[key]

    def close(self) -> None:
        """Remove the folder (the loaded modules stay usable)."""
        self._folder.cleanup()
