"""A trained network used on new data: predictions with the saved standardisation, scores, and files that do not fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.errors import DataError, KernelError
from symbp.prediction import Scores, Trained, evaluate, predict
from tests.helpers import SLOW, cli, kernel


def regression_files(folder, n=120, seed=0):
    """Inputs on very different scales (standardising matters), a smooth target; train and test CSVs, inputs-only CSV."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.01 * X[:, 2]
    header = "a,b,c,y"
    np.savetxt(folder / "train.csv", np.column_stack([X[:90], y[:90]]), delimiter=",", header=header, comments="")
    np.savetxt(folder / "test.csv", np.column_stack([X[90:], y[90:]]), delimiter=",", header=header, comments="")
    np.savetxt(folder / "new.csv", X[90:], delimiter=",", header="a,b,c", comments="")
    return X[90:], y[90:]


@pytest.fixture
def standardized_run(tmp_path):
    X_test, y_test = regression_files(tmp_path)
    kernel_path = kernel(hidden=4).__file__
    trained = cli("train", kernel_path, "--data", "train.csv", "--target", "y", "--standardize", "--steps", "300", "-q", "-o", "run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    return tmp_path, kernel_path, X_test, y_test


def test_predict_applies_the_saved_standardisation(standardized_run) -> None:
    folder, kernel_path, X_test, y_test = standardized_run
    k = symbp.load_kernel(kernel_path)
    saved = dict(np.load(folder / "run.params.npz"))
    by_hand = k.forward(saved, (X_test - saved["x_mean"]) / saved["x_scale"])
    np.testing.assert_array_equal(predict(k, folder / "run.params.npz", X_test), by_hand)
    np.testing.assert_array_equal(symbp.predict(k, saved, X_test), by_hand)
    # Without the standardisation the same parameters predict badly: the point of storing it.
    assert np.mean((k.forward(saved, X_test) - y_test) ** 2) > 10 * np.mean((by_hand - y_test) ** 2)


def test_predict_and_evaluate_from_the_command_line(standardized_run) -> None:
    folder, kernel_path, X_test, y_test = standardized_run
    k = symbp.load_kernel(kernel_path)
    expected = predict(k, folder / "run.params.npz", X_test)
    printed = cli("predict", kernel_path, "--params", "run.params.npz", "--data", "new.csv", cwd=folder)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0] == "prediction" and np.array_equal(np.array([float(v) for v in lines[1:]]), expected)
    written = cli("predict", kernel_path, "--params", "run.params.npz", "--data", "test.csv", "--target", "y", "-o", "p.csv", cwd=folder)
    assert written.returncode == 0 and (folder / "p.csv").read_text() == printed.stdout
    scores = cli("evaluate", kernel_path, "--params", "run.params.npz", "--data", "test.csv", "--target", "y", cwd=folder)
    assert scores.returncode == 0, scores.stderr
    mse = float(np.mean((expected - y_test) ** 2))
    r2 = 1 - np.sum((y_test - expected) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    assert scores.stdout == f"n = 30, MSE = {mse:.6g}, R² = {r2:.6g}\n"


def test_standardised_targets_come_back_in_their_units() -> None:
    k = kernel(hidden=2, inputs=1)
    params = k.init_params(1, seed=3)
    X = np.linspace(-1, 1, 5)[:, None]
    f = k.forward(params, X)
    trained = Trained.of(k, {**params, "y_mean": np.array([100.0]), "y_scale": np.array([10.0])})
    np.testing.assert_allclose(trained.predict(X), 10.0 * f + 100.0)


def test_classifier_scores() -> None:
    k = kernel(hidden=2, g="sigmoid", loss="bce", inputs=2)
    params = k.init_params(2, seed=1)
    X = np.random.default_rng(2).normal(size=(40, 2))
    p = k.forward(params, X)
    y = (np.random.default_rng(3).uniform(size=40) < p).astype(float)
    scores = evaluate(k, params, X, y)
    assert scores.accuracy == pytest.approx(np.mean((p > 0.5) == (y > 0.5)))
    assert scores.log_loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    (tn, fp), (fn, tp) = scores.confusion
    assert tn + fp + fn + tp == 40 and tp == np.sum((p > 0.5) & (y == 1)) and fp == np.sum((p > 0.5) & (y == 0))
    np.testing.assert_array_equal(predict(k, params, X), (p > 0.5).astype(float))
    assert "confusion matrix" in "\n".join(scores.lines())


def test_scores_print_on_a_few_lines() -> None:
    assert Scores(n=3, mse=0.5, r2=0.25).lines() == ["n = 3, MSE = 0.5, R² = 0.25"]


def test_parameters_that_do_not_fit_are_refused_with_one_line(tmp_path) -> None:
    k = kernel(hidden=3)
    other = kernel(hidden=2)
    params = other.init_params(4)
    np.savez(tmp_path / "other.npz", **params)
    with pytest.raises(KernelError, match=r"W1 has shape \(1, 2\), but this kernel's W1 is \(1, 3\)"):
        Trained.load(k, tmp_path / "other.npz")
    np.savez(tmp_path / "partial.npz", W1=params["W1"])
    with pytest.raises(KernelError, match="lacks b1, W2, b2"):
        Trained.load(k, tmp_path / "partial.npz")
    (tmp_path / "not.npz").write_text("step,loss\n")
    with pytest.raises(KernelError, match="not an .npz archive"):
        Trained.load(k, tmp_path / "not.npz")
    with pytest.raises(KernelError, match="do not exist"):
        Trained.load(k, tmp_path / "missing.npz")
    np.savez(tmp_path / "half.npz", **k.init_params(4), x_mean=np.zeros(4))
    with pytest.raises(KernelError, match="only one of x_mean and x_scale"):
        Trained.load(k, tmp_path / "half.npz")
    with pytest.raises(DataError, match="has 2 input columns, but .* were trained on 4"):
        predict(k, k.init_params(4), np.zeros((3, 2)))


def test_the_command_line_refuses_a_params_file_that_does_not_fit(tmp_path) -> None:
    kernel_path = kernel(hidden=3).__file__
    np.savez(tmp_path / "p.npz", W1=np.zeros((1, 5)))
    np.savetxt(tmp_path / "d.csv", np.zeros((3, 2)), delimiter=",", header="a,b", comments="")
    for command in ("predict", "evaluate"):
        result = cli(command, kernel_path, "--params", "p.npz", "--data", "d.csv", cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "lacks b1" in result.stderr


# --- a softmax classifier on the iris data, labels by name --------------------------------------------

IRIS = symbp.__file__.replace("__init__.py", "data/iris.csv")


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A softmax classifier trained on the shipped iris data from the command line, its species column as labels."""
    folder = tmp_path_factory.mktemp("iris")
    kernel_path = kernel(hidden=8, loss="softmax", outputs=3, reduction="mean").__file__
    trained = cli("train", kernel_path, "--data", IRIS, "--target", "species", "--standardize", "--steps", "500",
                  "--step-size", "adam:0.01", "-q", "-o", "iris", cwd=folder)
    assert trained.returncode == 0, trained.stderr
    return folder, kernel_path


def test_a_softmax_classifier_learns_iris_and_names_its_classes(iris_run) -> None:
    folder, kernel_path = iris_run
    saved = np.load(folder / "iris.params.npz")
    assert tuple(saved["classes"]) == ("setosa", "versicolor", "virginica")
    k = symbp.load_kernel(kernel_path)
    data = symbp.data.load(IRIS, "species", labels=True)
    names = predict(k, folder / "iris.params.npz", data.X)
    truth = np.asarray(data.classes)[np.argmax(data.y, axis=1)]
    assert np.mean(names == truth) >= 0.95  # training accuracy after 500 Adam steps
    scores = evaluate(k, folder / "iris.params.npz", data.X, data.y)
    assert scores.accuracy == np.mean(names == truth) and np.sum(scores.confusion) == 150
    assert [sum(row) for row in scores.confusion] == [50, 50, 50] and scores.classes == data.classes
    f = Trained.load(k, folder / "iris.params.npz").outputs(data.X)
    assert scores.log_loss == pytest.approx(-np.mean(np.log(f[data.y == 1])), rel=1e-12)


@SLOW
def test_predict_and_evaluate_a_softmax_classifier_from_the_command_line(iris_run) -> None:
    folder, kernel_path = iris_run
    predicted = cli("predict", kernel_path, "--params", "iris.params.npz", "--data", IRIS, "--target", "species", cwd=folder)
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.splitlines()
    assert lines[0] == "class,p_setosa,p_versicolor,p_virginica" and len(lines) == 151
    assert lines[1].split(",")[0] == "setosa" and sum(float(v) for v in lines[1].split(",")[1:]) == pytest.approx(1.0, rel=1e-12)
    evaluated = cli("evaluate", kernel_path, "--params", "iris.params.npz", "--data", IRIS, "--target", "species", cwd=folder)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy = " in evaluated.stdout and "setosa versicolor  virginica" in evaluated.stdout


@SLOW
def test_classes_that_do_not_fit_the_kernel_are_refused(iris_run, tmp_path) -> None:
    folder, kernel_path = iris_run
    arrays = dict(np.load(folder / "iris.params.npz"))
    k = symbp.load_kernel(kernel_path)
    with pytest.raises(KernelError, match="classes .2. do not fit this kernel's 3 outputs"):
        Trained.of(k, {**arrays, "classes": np.array(["a", "b"])})
    with pytest.raises(KernelError, match="not a softmax classifier"):
        Trained.of(kernel(hidden=8), {**{n: arrays[n] for n in ("W1", "b1", "W2", "b2")}, "W1": arrays["W1"][:1], "b1": arrays["b1"][:1], "classes": arrays["classes"]})
    two = tmp_path / "two.csv"
    two.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,a\n1,2,3,5,b\n")
    refused = cli("train", kernel_path, "--data", str(two), "--target", "species", "-q", "-o", "two", cwd=tmp_path)
    assert refused.returncode == 2 and "2 classes (a, b) for a kernel with 3 outputs" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "two.params.npz").exists()


def test_validation_labels_are_encoded_with_the_training_classes(iris_run, tmp_path) -> None:
    folder, kernel_path = iris_run
    # Validation rows of two of the three classes only: their own sorted classes would be (versicolor, virginica).
    rows = Path(IRIS).read_text().splitlines()
    (tmp_path / "later.csv").write_text("\n".join([rows[0], *[row for row in rows[1:] if not row.endswith("setosa")][::5]]) + "\n")
    trained = cli("train", kernel_path, "--data", IRIS, "--target", "species", "--validation-data", "later.csv", "--standardize",
                  "--steps", "60", "--step-size", "adam:0.01", "-q", "-o", "checked", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    k = symbp.load_kernel(kernel_path)
    later = symbp.data.load(tmp_path / "later.csv", "species", labels=("setosa", "versicolor", "virginica"))
    assert later.y[:, 0].sum() == 0 and later.y.shape == (20, 3)
    history = (tmp_path / "checked.history.csv").read_text().splitlines()
    best = min(float(line.split(",")[-1]) for line in history[1:])
    scores = evaluate(k, tmp_path / "checked.params.npz", later.X, later.y)
    assert scores.log_loss == pytest.approx(best, rel=1e-9)  # the mean kernel's R on them is their mean log-loss
