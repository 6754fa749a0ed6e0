"""Reading a hand-derived formula into SymPy, in the index notation of :mod:`symbp.symbolic.model`.

The text is read by the whitelist walker of :mod:`symbp.spec.whitelist` (Python's
own parser, which never runs code, then the tree node by node) with the node set
of formulas: on top of numbers, ``+ - * / **`` and the functions σ and g may use,
the arrays of the :class:`~symbp.checker.notation.Notation` with their index
letters, ``sum(BODY, i, …)``, the layer functions sigma, sigma_prime, g, g_prime,
``step``, ``sign`` and the constant ``lam``.  Anything else is refused with a
one-line :class:`~symbp.errors.ExpressionError`.
"""

from __future__ import annotations

import ast
from functools import partial

import sympy as sp

from symbp.checker.notation import OUTPUT, Array, Notation
from symbp.errors import ExpressionError
from symbp.spec.functions import X
from symbp.spec.whitelist import Limits, Messages, Walker

#: How much text a formula may be: characters, nesting depth, nodes of its tree.
MAX_LENGTH = 1000
MAX_NODES = 1000
MAX_DEPTH = 100

#: What to write instead of a character a formula copied from a textbook may contain.
UNICODE_HINTS = {"σ": "sigma", "−": "-", "–": "-", "·": "*", "×": "*", "Σ": "sum(..., i)", "∑": "sum(..., i)", "′": "_prime", "λ": "lam", "²": "**2"}


def read(notation: Notation, formula: str, param: str, *, named: bool = False) -> sp.Expr:
    """The formula as a SymPy expression in index notation.

    Args:
        notation: the notation of the spec.
        formula: one generic component of ∂R/∂``param``, e.g. ``"sum(2*(f[i]-y[i])*h[i,m], i)"``.
        param: the parameter, already checked (:meth:`Notation.parameter`).
        named: σ(a) written h and σ′(a) in its value form, as the derivation writes them.

    Returns:
        The expression, its free indices among those of the component.

    Raises:
        ExpressionError: with one line saying what cannot be read and why.

    Example:
        >>> from symbp.checker.notation import notation_for
        >>> from symbp.spec.network import make_spec
        >>> read(notation_for(make_spec(hidden=3, sigma="tanh")), "sum(2*(f[i]-y[i])*h[i,m], i)", "W1")
        Sum((2*f[i, k] - 2*y[i, k])*h[i, m], (i, 1, n))
    """
    if not isinstance(formula, str):
        raise ExpressionError(f"the formula must be given as text, not {type(formula).__name__}")
    expr = FormulaWalker(notation, formula, named).expression()
    _check_free_indices(expr, notation, param)
    return _name_intermediates(expr, notation) if named else expr


def _check_free_indices(expr: sp.Expr, notation: Notation, param: str) -> None:
    """Every index left free must be one of the component's (or k, which d = 1 lets a formula leave out)."""
    component = notation.model.component(param)
    allowed = set(component.indices) | ({OUTPUT} if notation.single_output else set())
    stray = sorted((s for s in expr.free_symbols if s in notation.index_symbols and s not in allowed), key=str)
    if not stray:
        return
    letter = str(stray[0])
    target = notation.printer.doprint(component)
    if letter == "i":
        raise ExpressionError(f"the sample index i is left free, but dR/d{target} sums over the samples: wrap the terms in sum(..., i)")
    raise ExpressionError(
        f"the index {letter} ({notation.indices[letter][2]}) is neither an index of {target} nor summed: "
        f"wrap the terms that use it in sum(..., {letter}), or use the indices of {target}"
    )


class FormulaWalker(Walker):
    """The whitelist walker with the node set of formulas: arrays with index letters, sums, the layer functions."""

    messages = Messages(
        subject="formula {shown}",
        empty="the formula is empty: give one component of the gradient, e.g. sum(2*(f[i]-y[i])*h[i,m], i)",
        too_long="the formula is {length} characters long; at most {limit} are allowed",
        character="the formula contains the character {char!r}, outside printable ASCII{hint}",
        comment="a comment ('#') is not allowed in a formula",
        malformed="the formula {shown} is malformed: {msg} at column {column}",
        too_large="{subject}: it is nested more than {depth} deep or has more than {nodes} parts",
        divides_by_zero="{subject}: divides by zero",
        starred="{subject}: unpacking arguments with * in a call to {name!r} is not allowed; allowed are {allowed}",
        not_a_value="the formula {shown} is not a number-valued expression",
        undefined="the formula {shown} is undefined (it divides by zero or is infinite)",
        not_real="the formula {shown} is not real-valued",
        hint="; write {replacement}",
        replacements=UNICODE_HINTS,
    )
    limits = Limits(length=MAX_LENGTH, depth=MAX_DEPTH, nodes=MAX_NODES)

    def __init__(self, notation: Notation, text: str, named: bool) -> None:
        self.notation = notation
        self.named = named
        # Merged last, so that the layer functions win should a name ever be both.
        layer_functions = {name: (1, partial(self.layer_function, name)) for name in notation.layer_functions}
        functions = ", ".join([*notation.layer_functions, *notation.functions])
        allowed = f"arrays with indices (x[i,j]), sum(BODY, i), numbers, + - * / **, the constants {notation.constant_names()} and the functions {functions}"
        super().__init__(text, role="formula", constants=notation.constants, functions=notation.functions | layer_functions, allowed=allowed)

    def variable(self, name: str) -> sp.Expr | None:
        notation = self.notation
        if name in notation.indices:
            raise self.fail(f"the index {name} stands alone; indices go inside [] (x[i,j]) or at the end of sum(BODY, {name})")
        if name not in notation.arrays:
            return None
        array = notation.arrays[name]
        if notation.single_output and array.slots == (OUTPUT,):
            return array.base[OUTPUT]
        raise self.fail(f"the array {name} needs its indices: {notation.usage(array)}")

    def unknown_name(self, name: str) -> ExpressionError:
        return self.fail(f"unknown name {name!r}: allowed are {self.notation.allowed_names()}, and the constants {self.notation.constant_names()}")

    def subscript(self, node: ast.Subscript, depth: int) -> sp.Expr:
        if isinstance(node.value, ast.Name):
            return self.array(node.value.id, node.slice)
        raise self.refuse("indexing anything but an array of the notation")

    def is_function(self, name: str) -> bool:
        return name == "sum" or name in self.functions

    def call(self, name: str, args: list[ast.expr], depth: int) -> sp.Expr:
        if name == "sum":
            return self.sum(args, depth)
        return super().call(name, args, depth)

    def tower_problem(self, base: sp.Expr, exponent: sp.Expr) -> str | None:
        if not exponent.is_number and exponent.has(sp.Pow) and base.free_symbols:
            return "towers of powers are not allowed"
        return None

    def combined(self, value: sp.Expr) -> sp.Expr:
        return _name_pre_activation(value, self.notation) if self.named and isinstance(value, sp.Add) else value

    def array(self, name: str, index: ast.expr) -> sp.Expr:
        """``name[index]``: an array of the notation with the index letters of its axes (k may be left out when d = 1)."""
        notation = self.notation
        if name not in notation.arrays:
            if self.is_function(name):
                raise self.fail(f"{name} is a function: call it with parentheses, {name}(...)")
            raise self.fail(f"unknown array {name!r}: allowed are {notation.allowed_names()}")
        array = notation.arrays[name]
        entries = index.elts if isinstance(index, ast.Tuple) else [index]
        letters = [self.index_letter(array, entry) for entry in entries]
        slots = list(array.slots)
        if len(letters) == len(slots) - 1 and array.output_axis is not None:
            if not notation.single_output:
                outputs = notation.derivation.spec.outputs
                raise self.fail(f"{name} needs all {len(slots)} indices, {notation.usage(array)}: with d = {outputs} outputs the output index k cannot be left out")
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

    def index_letter(self, array: Array, entry: ast.expr) -> sp.Symbol:
        """The symbol of one index of ``array[...]``, which must be an index letter."""
        notation = self.notation
        if isinstance(entry, ast.Name) and entry.id in notation.indices:
            return notation.indices[entry.id][0]
        if isinstance(entry, ast.Constant) and isinstance(entry.value, int):
            raise self.fail(f"{array.name}[...]: indices are letters, not numbers; write the generic component, {notation.usage(array)}")
        raise self.fail(f"{array.name}[...]: an index must be one of the index letters {', '.join(notation.indices)}")

    def sum(self, args: list[ast.expr], depth: int) -> sp.Expr:
        """``sum(BODY, i, …)``: Σ of the body over the listed index letters, each over its whole range."""
        if len(args) < 2 or any(isinstance(a, ast.Starred) for a in args):
            raise self.fail("sum needs a body and the indices to sum over: sum(BODY, i) or sum(BODY, i, k)")
        body = self.walk(args[0], depth + 1)
        limits = []
        for arg in args[1:]:
            if not (isinstance(arg, ast.Name) and arg.id in self.notation.indices):
                raise self.fail(f"sum(BODY, ...): what follows the body must be index letters ({', '.join(self.notation.indices)})")
            symbol, size, _ = self.notation.indices[arg.id]
            if any(limit[0] == symbol for limit in limits):
                raise self.fail(f"sum(BODY, ...) names the index {arg.id} twice")
            limits.append((symbol, 1, size))
        return sp.Sum(body, *limits)

    def layer_function(self, name: str, u: sp.Expr) -> sp.Expr:
        """σ(u), σ′(u), g(u) or g′(u) of the spec; with ``named``, σ(a[i,m]) is h[i,m] and σ′(a[i,m]) its value form."""
        layer, prime = self.notation.layer_functions[name]
        named_pre = self.named and isinstance(u, sp.Indexed) and u.base == layer.pre
        if not prime:
            return layer.post[u.indices] if named_pre else self.notation.model.concrete(layer, u)
        form = self.notation.derivation.forms[layer.number]
        return form.at(u, layer.post[u.indices]) if named_pre else form.expr.xreplace({X: u})


def _name_pre_activation(expr: sp.Add, notation: Notation) -> sp.Expr:
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
