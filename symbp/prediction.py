"""Using a trained network: its predictions for new inputs, and how well they fit, in the units of the data.

A run saves its parameters as ``PREFIX.params.npz`` together with what it did
to the data: ``x_mean`` and ``x_scale`` with ``--standardize`` (and ``y_mean``,
``y_scale`` when the targets were standardised, as the demo does).
:class:`Trained` puts the kernel and that file together, checks that they fit,
and applies the same standardisation to new inputs (and undoes that of the
targets), so that predictions come out in the data's units.

NumPy only: predicting never imports SymPy.

Example:
    >>> trained = Trained.load(kernel, "run.params.npz")     # doctest: +SKIP
    >>> trained.predict(X_new)                               # doctest: +SKIP
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from symbp.data.read_numpy import read_npz_arrays
from symbp.errors import DataError, KernelError
from symbp.training.fit import check_network_size

__all__ = ["Scores", "Trained", "evaluate", "predict"]

#: The arrays a params file may hold besides the parameters: the standardisation of the inputs and targets.
STANDARDIZATION = ("x_mean", "x_scale", "y_mean", "y_scale")
#: Probabilities are clipped this far from 0 and 1 in the log-loss, as is usual, so that a confident mistake costs a finite amount.
LOG_LOSS_CLIP = 1e-15


@dataclass(frozen=True, eq=False)
class Trained:
    """A kernel with the parameters a run saved, and the standardisation it trained with.

    Attributes:
        kernel: the kernel module (:func:`symbp.load_kernel`).
        params: W1, b1, … with the kernel's shapes.
        x_mean, x_scale: the inputs' standardisation, or None.
        y_mean, y_scale: the targets' standardisation, or None.
        source: the params file, for messages.
        classes: a softmax classifier's class names, in the order of its outputs (empty: none were saved).
    """

    kernel: ModuleType
    params: dict[str, np.ndarray]
    x_mean: np.ndarray | None = None
    x_scale: np.ndarray | None = None
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None
    source: str = "the parameters"
    classes: tuple[str, ...] = ()

    @classmethod
    def load(cls, kernel: ModuleType, path: str | os.PathLike[str]) -> Trained:
        """The parameters saved in ``path`` (an ``.npz`` written by ``symbp train``), checked against ``kernel``.

        Raises:
            KernelError: the file is missing or unreadable, or its arrays do not fit the kernel.
        """
        source = os.fspath(path)
        if not Path(source).is_file():
            raise KernelError(f"parameters {source} do not exist; give the PREFIX.params.npz that 'symbp train' wrote")
        if not zipfile.is_zipfile(source):
            raise KernelError(f"parameters {source} are not an .npz archive; give the PREFIX.params.npz that 'symbp train' wrote")
        try:
            # The arrays' declared sizes are checked before they are read; nothing is unpickled.
            arrays = read_npz_arrays(Path(source), source)
        except DataError as err:
            raise KernelError(f"parameters {err}; give the PREFIX.params.npz that 'symbp train' wrote") from err
        return cls.of(kernel, arrays, source)

    @classmethod
    def of(cls, kernel: ModuleType, arrays: dict[str, np.ndarray], source: str = "the parameters") -> Trained:
        """Parameters (and standardisation) given as arrays, checked against ``kernel``."""
        missing = [name for name in kernel.PARAMETERS if name not in arrays]
        if missing:
            raise KernelError(f"{source} lacks {', '.join(missing)}: they are not parameters of this kernel ({', '.join(kernel.PARAMETERS)}); give the kernel they were trained with")
        params = {name: np.asarray(arrays[name], dtype=float) for name in kernel.PARAMETERS}
        p = _inputs(kernel, params)
        if p < 1 or (kernel.P is not None and p != kernel.P):
            raise KernelError(f"{source}: {kernel.PARAMETERS[-2]} has shape {params[kernel.PARAMETERS[-2]].shape}, which does not fit this kernel; give the kernel they were trained with")
        check_network_size(kernel, 1, p, source)  # before init_params allocates the kernel's declared sizes
        expected = {name: value.shape for name, value in kernel.init_params(p).items()}
        for name, value in params.items():
            if value.shape != expected[name]:
                raise KernelError(f"{source}: {name} has shape {value.shape}, but this kernel's {name} is {expected[name]}; give the kernel they were trained with")
        extra = {name: np.asarray(arrays[name], dtype=float) if name in arrays else None for name in STANDARDIZATION}
        trained = cls(kernel, params, **extra, source=source, classes=_classes(kernel, arrays, source))
        trained._check_standardization()
        return trained

    @property
    def p(self) -> int:
        """The number of inputs the parameters take."""
        return _inputs(self.kernel, self.params)

    @property
    def is_classifier(self) -> bool:
        """The network outputs probabilities (cross-entropy loss): predictions are classes."""
        return self.kernel.SPEC.get("loss") in ("bce", "softmax")

    @property
    def is_softmax(self) -> bool:
        """One class among the d outputs (softmax): the prediction is the most probable class."""
        return self.kernel.SPEC.get("loss") == "softmax"

    def class_names(self) -> tuple[str, ...]:
        """The softmax classifier's classes: the names saved with the parameters, else 0, 1, …, d − 1."""
        return self.classes or tuple(str(k) for k in range(self.kernel.D))

    def outputs(self, X: np.ndarray, source: str = "the data") -> np.ndarray:
        """f(x_i) for every row of X, in the targets' units: (n,) with one output, else (n, d)."""
        X = self._checked_inputs(X, source)
        if self.x_mean is not None:
            X = (X - self.x_mean) / self.x_scale
        f = self.kernel.forward(self.params, X)
        if self.y_mean is not None:
            f = f * self.y_scale + self.y_mean
        return f

    def predict(self, X: np.ndarray, source: str = "the data") -> np.ndarray:
        """Predictions for every row of X: f(x_i) for regression; for a classifier, the class 0 or 1 of each output."""
        f = self.outputs(X, source)
        if self.is_softmax:  # the class of largest probability, by the name it was trained with
            return np.asarray(self.class_names())[np.argmax(f, axis=1)]
        return (f > 0.5).astype(float) if self.is_classifier else f

    def _checked_inputs(self, X: np.ndarray, source: str) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise DataError(f"{source}: inputs have shape {X.shape}; expected (n, p), one row per sample")
        if X.shape[1] != self.p:
            raise DataError(f"{source} has {X.shape[1]} input columns, but {self.source} were trained on {self.p}; give data with the training data's input columns")
        return X

    def _check_standardization(self) -> None:
        for mean, scale, what, size in ((self.x_mean, self.x_scale, "x", self.p), (self.y_mean, self.y_scale, "y", self.kernel.D)):
            if (mean is None) != (scale is None):
                raise KernelError(f"{self.source} holds only one of {what}_mean and {what}_scale; give the file 'symbp train' wrote")
            if mean is not None and (mean.size != size or scale.size != size or not np.all(np.isfinite(scale)) or np.any(scale == 0)):
                raise KernelError(f"{self.source}: {what}_mean and {what}_scale must hold {size} finite numbers (scale not 0); give the file 'symbp train' wrote")


def _inputs(kernel: ModuleType, params: dict[str, np.ndarray]) -> int:
    """p: the columns of the first hidden layer's weights (the last parameter matrix)."""
    first = params[kernel.PARAMETERS[-2]]
    return int(first.shape[1]) if first.ndim == 2 else 0


@dataclass(frozen=True)
class Scores:
    """How well a trained network fits data.

    Attributes:
        n: the number of samples.
        mse: the mean over samples and outputs of (y − f)².
        r2: the coefficient of determination 1 − Σ(y − f)²/Σ(y − ȳ)², averaged over the outputs
            (None for a classifier, or when y is constant).
        accuracy: for a classifier, the share of outputs whose class (f > 0.5) is the target's.
        log_loss: for a classifier, −mean(y log f + (1 − y) log(1 − f)), f clipped to [1e-15, 1 − 1e-15].
        confusion: for a classifier with one output, counts of (true class, predicted class), rows 0 and 1;
            for a softmax classifier, d × d counts.
        classes: the names of the confusion matrix's rows and columns.
    """

    n: int
    mse: float
    r2: float | None = None
    accuracy: float | None = None
    log_loss: float | None = None
    confusion: tuple[tuple[int, ...], ...] | None = None
    classes: tuple[str, ...] = ("0", "1")

    def lines(self) -> list[str]:
        """The scores as the command line prints them."""
        first = f"n = {self.n}, MSE = {self.mse:.6g}"
        if self.r2 is not None:
            first += f", R² = {self.r2:.6g}"
        if self.accuracy is None:
            return [first]
        lines = [first + f", accuracy = {self.accuracy:.4g}, log-loss = {self.log_loss:.6g}"]
        if self.confusion is not None:
            width = max(7, *(len(name) for name in self.classes))
            lines.append("confusion matrix (rows: true class, columns: predicted class):")
            if self.classes != ("0", "1"):  # named classes: a row of their names above the counts
                lines.append(" " * width + "".join(f" {name:>{width}}" for name in self.classes))
            lines += [f"{name:>{width}}" + "".join(f" {count:>{width}}" for count in row) for name, row in zip(self.classes, self.confusion)]
        return lines


def predict(kernel: ModuleType, params: Trained | dict[str, np.ndarray] | str | os.PathLike[str], X: np.ndarray) -> np.ndarray:
    """Predictions of a trained network for the rows of X, in the data's units.

    Args:
        kernel: a module from :func:`symbp.load_kernel`.
        params: a :class:`Trained`, a dict of arrays (parameters and, optionally, ``x_mean``, ``x_scale``,
            ``y_mean``, ``y_scale``), or the path of the ``.params.npz`` a run saved.
        X: the inputs, (n, p), in the units of the training data (before any standardisation).

    Returns:
        (n,) with one output, else (n, d): f(x) for regression, the class (0 or 1) for a classifier.

    Example:
        >>> symbp.predict(kernel, "run.params.npz", X_new)      # doctest: +SKIP
    """
    return _trained(kernel, params).predict(X)


def evaluate(kernel: ModuleType, params: Trained | dict[str, np.ndarray] | str | os.PathLike[str], X: np.ndarray, y: np.ndarray) -> Scores:
    """How well a trained network fits (X, y): MSE and R², and for a classifier accuracy, log-loss and the confusion matrix.

    Example:
        >>> print("\\n".join(symbp.evaluate(kernel, "run.params.npz", X, y).lines()))   # doctest: +SKIP
    """
    trained = _trained(kernel, params)
    f = np.asarray(trained.outputs(X), dtype=float)
    Y = np.asarray(y, dtype=float)
    if Y.shape != f.shape:
        raise DataError(f"the targets have shape {Y.shape}, but the network gives {f.shape}; give one target column per output")
    F, Y = f.reshape(len(f), -1), Y.reshape(len(Y), -1)
    residual = np.sum((Y - F) ** 2, axis=0)
    spread = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    mse = float(np.mean((Y - F) ** 2))
    if not trained.is_classifier:
        r2 = float(np.mean(1 - residual / spread)) if np.all(spread > 0) else None
        return Scores(n=len(Y), mse=mse, r2=r2)
    if np.any((Y < 0) | (Y > 1)):
        raise DataError("the targets of a classifier must lie in [0, 1] (labels 0/1 or probabilities)")
    if trained.is_softmax:
        return _softmax_scores(trained, F, Y, mse)
    P = np.clip(F, LOG_LOSS_CLIP, 1 - LOG_LOSS_CLIP)
    log_loss = float(-np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P)))
    predicted, truth = F > 0.5, Y > 0.5
    accuracy = float(np.mean(predicted == truth))
    confusion = None
    if F.shape[1] == 1:
        counts = [[int(np.sum(~truth & ~predicted)), int(np.sum(~truth & predicted))], [int(np.sum(truth & ~predicted)), int(np.sum(truth & predicted))]]
        confusion = (tuple(counts[0]), tuple(counts[1]))
    return Scores(n=len(Y), mse=mse, accuracy=accuracy, log_loss=log_loss, confusion=confusion)


def _softmax_scores(trained: Trained, F: np.ndarray, Y: np.ndarray, mse: float) -> Scores:
    """Accuracy (the most probable class is the target's), the log-loss −mean_i Σ_k y log f and the d × d confusion matrix."""
    log_loss = float(-np.mean(np.sum(Y * np.log(np.clip(F, LOG_LOSS_CLIP, 1.0)), axis=1)))
    predicted, truth = np.argmax(F, axis=1), np.argmax(Y, axis=1)
    d = F.shape[1]
    counts = np.zeros((d, d), dtype=int)
    np.add.at(counts, (truth, predicted), 1)
    confusion = tuple(tuple(int(c) for c in row) for row in counts)
    return Scores(n=len(Y), mse=mse, accuracy=float(np.mean(predicted == truth)), log_loss=log_loss, confusion=confusion, classes=trained.class_names())


def _classes(kernel: ModuleType, arrays: dict[str, np.ndarray], source: str) -> tuple[str, ...]:
    """The class names saved with the parameters, checked against the kernel's outputs."""
    if "classes" not in arrays:
        return ()
    names = np.asarray(arrays["classes"])
    if kernel.SPEC.get("loss") != "softmax":
        raise KernelError(f"{source} holds class names, but this kernel is not a softmax classifier; give the kernel they were trained with")
    if names.ndim != 1 or names.dtype.kind != "U" or len(names) != kernel.D:
        raise KernelError(f"{source}: its classes ({names.size}) do not fit this kernel's {kernel.D} outputs; give the kernel they were trained with")
    return tuple(str(name) for name in names)


def _trained(kernel: ModuleType, params: Trained | dict[str, np.ndarray] | str | os.PathLike[str]) -> Trained:
    if isinstance(params, Trained):
        return params
    if isinstance(params, dict):
        return Trained.of(kernel, params)
    return Trained.load(kernel, params)
