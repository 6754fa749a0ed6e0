"""The main job: derive, emit and train on the shipped diabetes data, in seconds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbp.data import Standardizer, diabetes
from symbp.symbolic.derivation import derive
from symbp.kernel.emit import emit
from symbp.errors import UserError
from symbp.files import make_folder, write_text_atomic
from symbp.kernel.load import load_kernel
from symbp.training.fit import train
from symbp.training.outputs import save_history, save_params
from symbp.training.plot import plot_history


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its files, and how well the network fits."""

    tex: Path
    kernel: Path
    params: Path
    history: Path
    plot: Path | None  # None when matplotlib is missing
    final_loss: float
    mean_loss: float
    steps: int
    reason: str
    y_mean: float = 0.0
    y_scale: float = 1.0


def demo(folder: str | os.PathLike[str] = "symbp-demo", hidden: int = 8, sigma: str = "tanh", steps: int = 2000) -> DemoResult:
    """Derive R's gradients for a tanh network, emit its kernel and train it on the diabetes data.

    Inputs and target are standardised for training (the standardisation is
    saved with the parameters).  Every R the demo reports, in its summary, its
    history and its plot, is on the standardised target (y − y_mean) / y_scale:
    R in the target's own units is y_scale² times as large.
    Returns the paths written and the final loss next to that of the mean-only predictor.
    """
    data = diabetes()
    x_scaler = Standardizer.fit(data.X)
    y_scaler = Standardizer.fit(data.y)
    X = x_scaler.transform(data.X)
    y = y_scaler.transform(data.y)
    out = make_folder(folder, "the demo's results")
    derivation = derive(hidden=hidden, sigma=sigma, g="identity", inputs=data.p)
    tex = write_text_atomic(out / f"{derivation.spec.name}.tex", derivation.document())
    kernel_path = emit(derivation, out)
    kernel = load_kernel(kernel_path)
    result = train(kernel, X, y, steps=steps, step_size="armijo", seed=0, patience=200)
    params = save_params(
        out / f"{derivation.spec.name}.params.npz",
        result.params,
        x_mean=x_scaler.mean,
        x_scale=x_scaler.scale,
        y_mean=y_scaler.mean,
        y_scale=y_scaler.scale,
    )
    history = save_history(out / f"{derivation.spec.name}.history.csv", result.history)
    try:
        plot = plot_history(result.history, out / f"{derivation.spec.name}.loss.png", title=f"{derivation.spec.name} on the diabetes data")
    except UserError:
        plot = None  # matplotlib is an optional extra; the command line says how to get it
    return DemoResult(
        tex=tex,
        kernel=kernel_path,
        params=params,
        history=history,
        plot=plot,
        final_loss=result.final_loss,
        mean_loss=float(np.sum((y - y.mean()) ** 2)),  # the mean-only predictor, on the same standardised target
        steps=result.steps,
        reason=result.reason.value,
        y_mean=float(y_scaler.mean),
        y_scale=float(y_scaler.scale),
    )
