"""The notation of hand-written gradient formulas: reading it safely, and printing SymPy in it.

A formula for one generic component of a gradient is typed in plain text
(the README, "Checking a hand-derived gradient"), e.g. for ∂R/∂W²_{mj} with one hidden layer::

    sum(-2*(y[i]-f[i])*W1[m]*h[i,m]*(1-h[i,m])*x[i,j], i)

:class:`Notation` knows, for one spec, the arrays (x, y, W1, b1, …, a, h, z, f),
the index letters (i, j, k, m, …) and the functions (sigma, g, their derivatives,
exp, …) a formula may use.  The text is read by Python's own parser
(``ast.parse``, which never runs code) and the tree is walked against that
whitelist, as :mod:`symbp.expressions` does for σ and g; the SymPy expression,
in the index notation of :mod:`symbp.model`, is built node by node.  Anything
else is refused with a one-line :class:`~symbp.errors.ExpressionError`.

:class:`TextPrinter` writes SymPy expressions back in the same notation, so
that a derived formula can be read, and typed, like the user's.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, reduce

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symbp.symbolic import model as mo
from symbp.symbolic.derivation import Derivation, derive
from symbp.errors import ExpressionError, SpecError
from symbp.spec.functions import BINARY, FUNCTIONS, OPERATOR_NAMES, X, literal, power_problem, show
from symbp.spec.network import Spec

MAX_LENGTH = 1000
MAX_NODES = 1000
MAX_DEPTH = 100

#: The sample index and the output index (which may be left out when d = 1).
SAMPLE = mo.i
OUTPUT = mo.k


@dataclass(frozen=True)
class Array:
    """An array of the notation: its SymPy base and the index letter of each axis."""

    base: sp.IndexedBase
    slots: tuple[sp.Symbol, ...]
    output_axis: int | None  # the axis of the output index k, which may be left out when d = 1

    @property
    def name(self) -> str:
        return str(self.base.label)


@lru_cache(maxsize=32)
def notation_for(spec: Spec) -> Notation:
    """The notation of a spec, with its derivation (cached: deriving takes a moment)."""
    return Notation(derive(spec=spec))


class Notation:
    """The arrays, index letters and functions a formula may use for one spec, and how to read it.

    Attributes:
        derivation: the spec's derivation (its model, σ′ and g′ as SymPy derived them).
        indices: index letter → (symbol, size it runs up to, what it runs over).
        arrays: name → :class:`Array`, in the order x, y, W1, b1, …, then a, h, …, z, f.
        layer_functions: sigma, sigma_prime, g, g_prime (sigma2, … per layer in deeper networks) → (layer, is the derivative).
        functions: the other functions a formula may call, with their number of arguments.
        printer: a :class:`TextPrinter` for this notation.
    """

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        self.model = model = derivation.model
        spec = derivation.spec
        self.single_output = spec.outputs == 1
        self.indices: dict[str, tuple[sp.Symbol, sp.Symbol, str]] = {"i": (SAMPLE, mo.n, "the samples")}
        for layer in model.layers:
            if layer.is_input:
                what = "the inputs"
            elif layer.number == 1:
                what = "the outputs"
            else:
                what = "the hidden units" if spec.depth == 1 else f"the units of layer {layer.number}"
            self.indices[str(layer.unit)] = (layer.unit, layer.size, what)
        arrays = [Array(mo.x, (SAMPLE, mo.j), None), Array(mo.y, (SAMPLE, OUTPUT), 1)]
        for layer in model.parameter_layers:
            out = layer.number == 1
            arrays += [Array(layer.W, (layer.unit, model.below(layer).unit), 0 if out else None), Array(layer.b, (layer.unit,), 0 if out else None)]
        for layer in reversed(model.parameter_layers):
            out = layer.number == 1
            arrays += [Array(layer.pre, (SAMPLE, layer.unit), 1 if out else None), Array(layer.post, (SAMPLE, layer.unit), 1 if out else None)]
        self.arrays = {array.name: array for array in arrays}
        self.index_symbols = frozenset(symbol for symbol, _, _ in self.indices.values())
        self.constants: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E, "lam": mo.LAMBDA}
        # σ, σ′ by layer (σ for all layers when they share one), g, g′, then the plain functions.
        self.layer_functions: dict[str, tuple[mo.Layer, bool]] = {}
        hidden = model.hidden_layers
        if spec.uniform_sigma:
            self.layer_functions |= {"sigma": (hidden[0], False), "sigma_prime": (hidden[0], True)}
        if spec.depth > 1:
            for layer in hidden:
                self.layer_functions |= {f"sigma{layer.number}": (layer, False), f"sigma{layer.number}_prime": (layer, True)}
        self.layer_functions |= {"g": (model.layers[0], False), "g_prime": (model.layers[0], True)}
        self.functions: dict[str, tuple[int, Callable[..., sp.Expr]]] = {"step": (1, sp.Heaviside), "sign": (1, sp.sign), **FUNCTIONS}
        self.printer = TextPrinter({name: array.output_axis for name, array in self.arrays.items()}, self.single_output)

    def parameter(self, param: object) -> str:
        """The parameter's name if the spec has it, else a SpecError naming the allowed ones."""
        name = param.strip() if isinstance(param, str) else param
        if name not in self.model.parameters:
            raise SpecError(f"unknown parameter {param!r}: choose one of {', '.join(self.model.parameters)}")
        return name  # type: ignore[return-value]

    def parse(self, formula: str, param: str, named: bool = False) -> sp.Expr:
        """The formula as a SymPy expression in index notation (``named``: σ(a) written h, as in the derivation)."""
        if not isinstance(formula, str):
            raise ExpressionError(f"the formula must be given as text, not {type(formula).__name__}")
        source = formula.strip()
        if not source:
            raise ExpressionError("the formula is empty: give one component of the gradient, e.g. sum(2*(f[i]-y[i])*h[i,m], i)")
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"the formula is {len(source)} characters long; at most {MAX_LENGTH} are allowed")
        for char in source:
            if ord(char) > 127 or not char.isprintable():
                hint = _UNICODE_HINTS.get(char, "")
                raise ExpressionError(f"the formula contains the character {char!r}, outside printable ASCII" + (f"; write {hint}" if hint else ""))
        if "#" in source:
            raise ExpressionError("a comment ('#') is not allowed in a formula")
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as err:
            raise ExpressionError(f"the formula {show(source)} is malformed: {err.msg} at column {err.offset}") from err
        expr = _Reader(self, source, named).build(tree.body, depth=0)
        if not isinstance(expr, sp.Expr):
            raise ExpressionError(f"the formula {show(source)} is not a number-valued expression")
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise ExpressionError(f"the formula {show(source)} is undefined (it divides by zero or is infinite)")
        if expr.has(sp.I):
            raise ExpressionError(f"the formula {show(source)} is not real-valued")
        component = self.model.component(param)
        allowed = set(component.indices) | ({OUTPUT} if self.single_output else set())
        stray = sorted((s for s in expr.free_symbols if s in self.index_symbols and s not in allowed), key=str)
        if stray:
            letter = str(stray[0])
            target = self.printer.doprint(component)
            if letter == "i":
                raise ExpressionError(f"the sample index i is left free, but dR/d{target} sums over the samples: wrap the terms in sum(..., i)")
            raise ExpressionError(
                f"the index {letter} ({self.indices[letter][2]}) is neither an index of {target} nor summed: "
                f"wrap the terms that use it in sum(..., {letter}), or use the indices of {target}"
            )
        return _name_intermediates(expr, self) if named else expr

    def usage(self, array: Array) -> str:
        full = f"{array.name}[{','.join(map(str, array.slots))}]"
        if self.single_output and array.output_axis is not None:
            short = [str(s) for pos, s in enumerate(array.slots) if pos != array.output_axis]
            return full + " or " + (f"{array.name}[{','.join(short)}]" if short else array.name)
        return full

    def allowed_names(self) -> str:
        letters = ", ".join(f"{letter} ({what})" for letter, (_, _, what) in self.indices.items())
        return f"the arrays {', '.join(self.arrays)}; the index letters {letters}"

    def function_name(self, layer: mo.Layer, prime: bool = False) -> str:
        """sigma, sigma_prime, sigma3, g, … : how a formula calls the function of ``layer``."""
        return next(name for name, (lay, is_prime) in self.layer_functions.items() if is_prime == prime and lay.function == layer.function)

    def definitions(self) -> tuple[str, ...]:
        """The forward pass, first hidden layer first: a[i,m] = b2[m] + sum(W2[m,j]*x[i,j], j), h[i,m] = sigma(a[i,m]), …"""
        lines = []
        for layer in reversed(self.model.parameter_layers):
            below = self.model.below(layer)
            pre = layer.pre[SAMPLE, layer.unit]
            definition = self.model.pre_def(layer, SAMPLE, layer.unit).xreplace({below.bound: below.unit})
            lines.append(f"{self.printer.doprint(pre)} = {self.printer.doprint(definition)}")
            lines.append(f"{self.printer.doprint(layer.post[SAMPLE, layer.unit])} = {self.function_name(layer)}({self.printer.doprint(pre)})")
        return tuple(lines)

    def quantity_text(self, expr: sp.Expr) -> str:
        """h[i,m]; or sigma_prime(a[i,m]) for σ′ written in its value form (1 - h[i,m]**2)."""
        for layer in self.model.parameter_layers:
            pre = layer.pre[SAMPLE, layer.unit]
            if expr == self.derivation.forms[layer.number].at(pre, layer.post[SAMPLE, layer.unit]):
                return f"{self.function_name(layer, prime=True)}({self.printer.doprint(pre)})"
        return self.printer.doprint(expr)


_UNICODE_HINTS = {"σ": "sigma", "−": "-", "–": "-", "·": "*", "×": "*", "Σ": "sum(..., i)", "∑": "sum(..., i)", "′": "_prime", "λ": "lam", "²": "**2"}


class _Reader:
    """Walks the Python expression tree of a formula and builds SymPy, refusing anything off the whitelist."""

    def __init__(self, notation: Notation, source: str, named: bool) -> None:
        self.notation = notation
        self.source = source
        self.named = named
        self.nodes = 0

    def fail(self, what: str) -> ExpressionError:
        return ExpressionError(f"formula {show(self.source)}: {what}")

    def refuse(self, what: str) -> ExpressionError:
        functions = ", ".join([*self.notation.layer_functions, *self.notation.functions])
        return self.fail(
            f"{what} is not allowed; allowed are arrays with indices (x[i,j]), sum(BODY, i), numbers, + - * / **, "
            f"the constants pi, e, lam and the functions {functions}"
        )

    def build(self, node: ast.AST, depth: int) -> sp.Expr:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise self.fail(f"it is nested more than {MAX_DEPTH} deep or has more than {MAX_NODES} parts")
        match node:
            case ast.Constant(value=bool()):
                raise self.refuse("a boolean")
            case ast.Constant(value=int() | float() as value):
                return self.number(value)
            case ast.Constant(value=str() | bytes()):
                raise self.refuse("a string")
            case ast.Constant():
                raise self.refuse(f"the constant {node.value!r}")
            case ast.Name(id=name):
                return self.name(name)
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return -self.build(operand, depth + 1)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.build(operand, depth + 1)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in BINARY:
                lhs, rhs = self.build(left, depth + 1), self.build(right, depth + 1)
                if isinstance(op, ast.Pow):
                    return self.power(lhs, rhs)
                if isinstance(op, ast.Div) and rhs == 0:
                    raise self.fail("divides by zero")
                value = BINARY[type(op)](lhs, rhs)
                return _name_pre(value, self.notation) if self.named and isinstance(value, sp.Add) else value
            case ast.Subscript(value=ast.Name(id=name), slice=index):
                return self.array(name, index)
            case ast.Subscript():
                raise self.refuse("indexing anything but an array of the notation")
            case ast.Call(func=ast.Name(id="sum"), args=args, keywords=[]):
                return self.sum(args, depth)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in self.notation.layer_functions or name in self.notation.functions:
                return self.call(name, args, depth)
            case ast.Call(func=ast.Name(id=name), keywords=[_, *_]) if name == "sum" or name in self.notation.functions or name in self.notation.layer_functions:
                raise self.refuse(f"a keyword argument to {name!r}")
            case ast.Call(func=ast.Name(id=name)):
                raise self.refuse(f"a call to {name!r}")
            case ast.Call():
                raise self.refuse("a call to anything but a listed function")
            case ast.Attribute(attr=attr):
                raise self.refuse(f"attribute access ('.{attr}')")
            case ast.Lambda():
                raise self.refuse("lambda")
            case ast.BinOp(op=op) | ast.UnaryOp(op=op):
                raise self.refuse(f"the operator {OPERATOR_NAMES.get(type(op), type(op).__name__)!r}")
            case ast.Compare() | ast.BoolOp():
                raise self.refuse("a comparison or boolean operator")
            case _:
                raise self.refuse(f"the construct {type(node).__name__!r}")

    def number(self, value: int | float) -> sp.Expr:
        return literal(value, self.fail)

    def name(self, name: str) -> sp.Expr:
        notation = self.notation
        if name in notation.constants:
            return notation.constants[name]
        if name.startswith("__"):
            raise self.refuse(f"the dunder name {name!r}")
        if name in notation.indices:
            raise self.fail(f"the index {name} stands alone; indices go inside [] (x[i,j]) or at the end of sum(BODY, {name})")
        if name in notation.arrays:
            array = notation.arrays[name]
            if notation.single_output and array.slots == (OUTPUT,):
                return array.base[OUTPUT]
            raise self.fail(f"the array {name} needs its indices: {notation.usage(array)}")
        if name in notation.functions or name in notation.layer_functions or name == "sum":
            raise self.refuse(f"the function {name!r} used without being called")
        raise self.fail(f"unknown name {name!r}: allowed are {notation.allowed_names()}, and the constants pi, e, lam")

    def array(self, name: str, index: ast.AST) -> sp.Expr:
        notation = self.notation
        if name not in notation.arrays:
            if name in notation.functions or name in notation.layer_functions or name == "sum":
                raise self.fail(f"{name} is a function: call it with parentheses, {name}(...)")
            raise self.fail(f"unknown array {name!r}: allowed are {notation.allowed_names()}")
        array = notation.arrays[name]
        entries = index.elts if isinstance(index, ast.Tuple) else [index]
        letters = []
        for entry in entries:
            if isinstance(entry, ast.Name) and entry.id in notation.indices:
                letters.append(notation.indices[entry.id][0])
            elif isinstance(entry, ast.Constant) and isinstance(entry.value, int):
                raise self.fail(f"{name}[...]: indices are letters, not numbers; write the generic component, {notation.usage(array)}")
            else:
                raise self.fail(f"{name}[...]: an index must be one of the index letters {', '.join(notation.indices)}")
        slots = list(array.slots)
        if len(letters) == len(slots) - 1 and array.output_axis is not None:
            if not notation.single_output:
                raise self.fail(f"{name} needs all {len(slots)} indices, {notation.usage(array)}: with d = {notation.derivation.spec.outputs} outputs the output index k cannot be left out")
            letters.insert(array.output_axis, OUTPUT)
        if len(letters) != len(slots):
            raise self.fail(f"{name} takes {len(slots)} ind{'ex' if len(slots) == 1 else 'ices'}, {notation.usage(array)}; got {len(entries)}")
        for position, (letter, slot) in enumerate(zip(letters, slots, strict=True)):
            if letter != slot:
                ordinal = ("first", "second", "third")[position]
                raise self.fail(
                    f"the {ordinal} index of {name} runs over {notation.indices[str(slot)][2]} and is written {slot}, not {letter} "
                    f"({letter} runs over {notation.indices[str(letter)][2]})"
                )
        return array.base[tuple(letters)]

    def sum(self, args: list[ast.expr], depth: int) -> sp.Expr:
        if len(args) < 2 or any(isinstance(a, ast.Starred) for a in args):
            raise self.fail("sum needs a body and the indices to sum over: sum(BODY, i) or sum(BODY, i, k)")
        body = self.build(args[0], depth + 1)
        limits = []
        for arg in args[1:]:
            if not (isinstance(arg, ast.Name) and arg.id in self.notation.indices):
                raise self.fail(f"sum(BODY, ...): what follows the body must be index letters ({', '.join(self.notation.indices)})")
            symbol, size, _ = self.notation.indices[arg.id]
            if any(limit[0] == symbol for limit in limits):
                raise self.fail(f"sum(BODY, ...) names the index {arg.id} twice")
            limits.append((symbol, 1, size))
        return sp.Sum(body, *limits)

    def call(self, name: str, args: list[ast.expr], depth: int) -> sp.Expr:
        if name in self.notation.layer_functions:
            arity, make = 1, None
        else:
            arity, make = self.notation.functions[name]
        if any(isinstance(a, ast.Starred) for a in args):
            raise self.refuse(f"unpacking arguments with * in a call to {name!r}")
        if len(args) != arity:
            raise self.fail(f"{name} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}")
        values = [self.build(a, depth + 1) for a in args]
        if make is not None:
            return make(*values)
        layer, prime = self.notation.layer_functions[name]
        (u,) = values
        named_pre = self.named and isinstance(u, sp.Indexed) and u.base == layer.pre
        if not prime:
            return layer.post[u.indices] if named_pre else self.notation.model.concrete(layer, u)
        form = self.notation.derivation.forms[layer.number]
        return form.at(u, layer.post[u.indices]) if named_pre else form.expr.xreplace({X: u})

    def power(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        problem = power_problem(base, exponent)
        if problem is None and not exponent.is_number and exponent.has(sp.Pow) and base.free_symbols:
            problem = "towers of powers are not allowed"
        if problem is not None:
            raise self.fail(problem)
        return sp.Pow(base, exponent)


def _name_pre(expr: sp.Add, notation: Notation) -> sp.Expr:
    """b2[m] + sum(W2[m,j]*x[i,j], j) → a[i,m] (any layer), so that the written-out form reads like the derivation."""
    terms = list(expr.args)
    for layer in notation.model.parameter_layers:
        below = notation.model.below(layer)
        for total in [t for t in terms if isinstance(t, sp.Sum) and len(t.limits) == 1]:
            var = total.limits[0][0]
            factors = sp.Mul.make_args(total.function)
            weights = [f for f in factors if isinstance(f, sp.Indexed) and f.base == layer.W and f.indices[1] == var]
            inputs = [f for f in factors if isinstance(f, sp.Indexed) and f.base == below.post and f.indices[1] == var]
            if len(factors) != 2 or len(weights) != 1 or len(inputs) != 1 or total.limits[0][2] != below.size:
                continue
            unit, sample = weights[0].indices[0], inputs[0].indices[0]
            if layer.b[unit] in terms:
                terms.remove(total)
                terms.remove(layer.b[unit])
                terms.append(layer.pre[sample, unit])
    return sp.Add(*terms)


def _name_intermediates(expr: sp.Expr, notation: Notation) -> sp.Expr:
    """σ(a[i,m]) → h[i,m] and σ′(a[i,m]) → its value form, also where the user wrote tanh(a[i,m]) itself."""
    model, forms = notation.model, notation.derivation.forms
    mapping = {}
    for atom in expr.atoms(sp.Indexed):
        for layer in model.parameter_layers:
            if atom.base == layer.pre:
                post = layer.post[atom.indices]
                mapping[forms[layer.number].expr.xreplace({X: atom})] = forms[layer.number].at(atom, post)
                mapping[model.concrete(layer, atom)] = post
    return expr.xreplace(mapping)


# --- printing in the notation -----------------------------------------------------------------


class TextPrinter(StrPrinter):
    """SymPy's str printer writing the notation a formula is typed in: y[i], W1[m], sum(BODY, i), step(u)."""

    # Indexed prints itself through _sympystr; this printer decides instead.
    printmethod = "_symbp_text"

    def __init__(self, output_axes: dict[str, int | None], single_output: bool) -> None:
        super().__init__()
        self.output_axes = output_axes
        self.single_output = single_output

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        name = str(expr.base.label)
        indices = list(expr.indices)
        axis = self.output_axes.get(name)
        if self.single_output and axis is not None:
            del indices[axis]
        return name + (f"[{','.join(self._print(ix) for ix in indices)}]" if indices else "")

    def _print_Sum(self, expr: sp.Sum) -> str:
        letters = ", ".join(str(limit[0]) for limit in reversed(expr.limits))
        return f"sum({self._print(expr.function)}, {letters})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"step({self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        return reduce(lambda a, b: f"max({a}, {b})", (self._print(a) for a in expr.args))

    def _print_Min(self, expr: sp.Min) -> str:
        return reduce(lambda a, b: f"min({a}, {b})", (self._print(a) for a in expr.args))

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_Exp1(self, expr: sp.Expr) -> str:
        return "e"

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return "lam" if expr == mo.LAMBDA else super()._print_Symbol(expr)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        text = ""
        for position, term in enumerate(terms):
            negative = term.could_extract_minus_sign()
            text += (" - " if negative else " + ") if position else ("-" if negative else "")
            text += self.parenthesize(-term if negative else term, PRECEDENCE["Add"])
        return text
