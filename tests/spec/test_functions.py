"""σ and g: named, or typed as expressions in x and read with the σ/g node set of the whitelist walker (its messages: test_whitelist.py)."""

from __future__ import annotations

import sys
import time

import pytest
import sympy as sp

from symbp.errors import ExpressionError
from symbp.spec.functions import MAX_LENGTH, X, activation, output_function, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x/(1+exp(-x))", X / (1 + sp.exp(-X))),
        ("tanh(x)", sp.tanh(X)),
        ("max(0, x) + 0.5*x", sp.Max(0, X) + X / 2),
        ("x**2 - 3*x + pi", X**2 - 3 * X + sp.pi),
        ("sigmoid(x)*x", X / (1 + sp.exp(-X))),
        ("-x", -X),
        ("log(1 + e**x)", sp.log(1 + sp.E**X)),
    ],
)
def test_parses_whitelisted_expressions(text: str, expected: sp.Expr) -> None:
    assert sp.simplify(parse(text) - expected) == 0


def test_names_and_aliases() -> None:
    assert activation("logistic").name == "sigmoid"
    assert activation(" TANH ").expr == sp.tanh(X)
    assert output_function("exp").expr == sp.exp(X)
    custom = activation("x/(1+exp(-x))")
    assert not custom.is_named and custom.text == "x/(1+exp(-x))"


HOSTILE = [
    "__import__('os').system('touch pwned')",
    "x.__class__",
    "x.real",
    "lambda: 1",
    "(lambda y: y)(x)",
    "'abc'",
    "b'abc'",
    "open('f', 'w')",
    "eval('1')",
    "exec('1')",
    "getattr(x, 'real')",
    "globals()",
    "locals()",
    "vars()",
    "compile('1','','eval')",
    "__builtins__",
    "x[0]",
    "[x]",
    "{x}",
    "{'a': x}",
    "(x, x)",
    "x if x else x",
    "x and x",
    "x < 1",
    "not x",
    "x @ x",
    "x // 2",
    "x % 2",
    "x << 1",
    "~x",
    "f'{x}'",
    "x := 1",
    "exp(x=x)",
    "exp(*x)",
    "exp(x, x)",
    "max(x)",
    "y",
    "x + y",
    "sympy.exp(x)",
    "os.system",
    "exp",
    "True",
    "None",
    "...",
    "x" * (MAX_LENGTH + 1),
    "x**(9**9**9)",
    "x**1000",
    "9**9**9",
    "1/0",
    "x/0",
    "1e400*x",
    "x**x**x**x",
    "x;x",
    "x\nimport os",
    "-(" * 45 + "x" + ")" * 45,
    "",
    "3",
    "exp(1)",
    "x ＋ 1",
    "await x",
    "yield x",
    "Symbol('z')",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_refused_with_one_line(text: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    modules_before = set(sys.modules)
    started = time.monotonic()
    with pytest.raises(ExpressionError) as info:
        activation(text)
    assert time.monotonic() - started < 2.0
    message = str(info.value)
    assert "\n" not in message and message
    assert list(tmp_path.iterdir()) == []
    assert set(sys.modules) == modules_before


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 50


def test_error_lists_the_allowed_functions() -> None:
    with pytest.raises(ExpressionError, match=r"allowed are x \(or u\), numbers.*tanh"):
        parse("foo(x)")
    with pytest.raises(ExpressionError, match="choose one of identity, sigmoid, tanh, relu, softplus"):
        activation("swish")


@pytest.mark.slow
def test_every_whitelisted_function_prints_with_numpy_alone() -> None:
    from symbp.symbolic.derivation import derive
    from symbp.kernel.emit import render_kernel
    from symbp.spec.functions import FUNCTIONS

    for name, (arity, _) in FUNCTIONS.items():
        text = f"{name}(x)" if arity == 1 else f"{name}(x, 0.5*x)"
        if name in ("log", "sqrt"):
            text = f"{name}(1 + x**2)"
        render_kernel(derive(hidden=2, sigma=text))  # raises InternalError if anything but numpy is needed


def test_u_is_the_variable_as_the_documents_write_it() -> None:
    assert activation("u/(1+exp(-u))").expr == activation("x/(1+exp(-x))").expr == X / (1 + sp.exp(-X))
    assert output_function("exp(u)").expr == sp.exp(X)
    with pytest.raises(ExpressionError, match=r"^sigma expression 'u\*x': it uses both u and x; write it in one variable, x or u$"):
        activation("u*x")


@pytest.mark.parametrize("text", ["x^2", "u^3 + 1", "exp(x)^2"])
def test_a_caret_is_refused_with_the_power_to_write_instead(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        activation(text)
    message = str(caught.value)
    assert "the operator '^' (a power is written **, as in x**2) is not allowed" in message and "\n" not in message
