"""Emitting NumPy gradient kernels: the code path of the pipeline as one driver.

:func:`emit` reads as the pipeline: derive → lower (index notation to array
operations) → print (SymPy's NumPy printer, with CSE) → render (Jinja) →
write.  The kernel's statements come from the derivation: the forward pass
from the model's definitions of a, h, z, f; the loss from ℓ(y, f); the
backward pass from δ¹, δ² and the four gradients in their backpropagation form.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import sympy as sp

from symbp.latex import formulas as lx
from symbp.symbolic import model as mo
from symbp.kernel.codeprint import ONES_OF_BLOCK, print_operations
from symbp.symbolic.derivation import Derivation
from symbp.errors import InternalError, UserError
from symbp.files import write_text_atomic
from symbp.kernel.format import BODY_HASH_PREFIX, KERNEL_FORMAT
from symbp.kernel.lower import Statement, lower
from symbp.render import render
from symbp.spec.network import NAME_PATTERN, Spec
from symbp.symbolic.stable import stabilize

TEMPLATE = "numpy/kernel.py.jinja"
#: loss and loss_and_grad work through the samples in blocks: the working memory stays
#: a few (rows × width) arrays whatever n is.  A block of the widest layer takes at most
#: BLOCK_BYTES, so that the elementwise passes over it run from cache, in rows that are a
#: power of two between BLOCK_ROWS_MIN and BLOCK_ROWS_MAX.  Measured on 2 cores at
#: (10 000, 100, 100), (100 000, 50, 50) and (100 000, 10, 10): blocks of 1 024 to 8 192 rows
#: time within the noise of each other, 512 rows are 5–20 % slower (the matrix products get
#: too few rows), and more rows only add memory.
BLOCK_BYTES = 1 << 20
BLOCK_ROWS_MIN = 512
BLOCK_ROWS_MAX = 8192


def block_rows(spec: Spec) -> int:
    """Rows per block for a spec's kernel: the most (a power of two) whose widest array fits BLOCK_BYTES."""
    widest = max((*spec.hidden, spec.outputs))
    rows = BLOCK_ROWS_MAX
    while rows > BLOCK_ROWS_MIN and rows * widest * 8 > BLOCK_BYTES:
        rows //= 2
    return rows


@dataclass(frozen=True)
class KernelSource:
    """What the printing stage hands to the template: printed lines and LaTeX, nothing to compute."""

    forward_lines: tuple[str, ...]
    loss_lines: tuple[str, ...]
    loss_setup: tuple[str, ...]
    loss_final: tuple[str, ...]
    grad_lines: tuple[str, ...]
    grad_setup: tuple[str, ...]
    grad_final: tuple[str, ...]
    uses_ones: bool  # the kernel needs its vector of BLOCK ones
    imports: tuple[str, ...]
    forward_doc: tuple[str, ...]
    loss_doc: tuple[str, ...]
    grad_doc: tuple[str, ...]


@dataclass(frozen=True)
class KernelLayout:
    """The names and shapes the template places: the parameters, the intermediates, the size constants."""

    parameters: tuple[str, ...]  # W1, b1, W2, b2, …
    intermediates: tuple[str, ...]  # a, h, z, f (a3, h3, a2, h2, z, f for two hidden layers)
    sizes: dict[sp.Symbol, str]  # axis → the kernel's constant for its size (D, M or M2, …, p)
    size_constants: tuple[tuple[str, int], ...]  # (M2, 8), … (empty for one hidden layer: M is the size)
    shapes: tuple[tuple[str, str], ...]  # (W1, "(D, M)"), …
    fan_in: dict[str, str]  # W1 → "M", …: the scale of the random initial weights


def layout(derivation: Derivation) -> KernelLayout:
    """Names and shapes of a kernel for the derivation's network."""
    model = derivation.model
    sizes: dict[sp.Symbol, str] = {mo.k: "D", mo.j: "p"}
    constants = []
    for layer in model.hidden_layers:
        if derivation.spec.depth == 1:
            sizes[layer.unit] = "M"
        else:
            sizes[layer.unit] = f"M{layer.number}"
            constants.append((f"M{layer.number}", derivation.spec.size(layer.number)))
    shapes, fan_in = [], {}
    for layer in model.parameter_layers:
        below = model.below(layer)
        rows, cols = sizes[layer.unit], sizes[below.unit]
        shapes += [(f"W{layer.number}", f"({rows}, {cols})"), (f"b{layer.number}", f"({rows},)")]
        fan_in[f"W{layer.number}"] = cols
    intermediates = []
    for layer in reversed(model.parameter_layers):
        intermediates += [str(layer.pre.label), str(layer.post.label)]
    return KernelLayout(
        parameters=model.parameters,
        intermediates=tuple(intermediates),
        sizes=sizes,
        size_constants=tuple(constants),
        shapes=tuple(shapes),
        fan_in=fan_in,
    )


def statements(derivation: Derivation) -> dict[str, list[Statement]]:
    """The kernel's programs in index notation, straight from the derivation.

    ``forward``, ``loss`` and ``backward`` run once per block of samples; ``loss_final``
    and ``backward_final`` once after the last block (the L2 penalty, which has no sum over samples).
    """
    i, k = mo.i, mo.k
    model = derivation.model
    forward = []
    for layer in reversed(model.parameter_layers):
        forward.append(Statement(str(layer.pre.label), (i, layer.unit), model.pre_def(layer, i, layer.unit)))
        forward.append(Statement(str(layer.post.label), (i, layer.unit), model.concrete(layer, layer.pre[i, layer.unit])))
    # A loss with logarithms is computed from z (log(1 + e^z) − y z for the cross-entropy), never from log f.
    term = model.loss_in_z(mo.y[i, k], mo.z[i, k])
    if term is None:
        term = model.loss_term(mo.y[i, k], mo.f[i, k])
    loss = [Statement("R", (), sp.Sum(term, (k, 1, mo.d), (i, 1, mo.n)), total=True)]
    backward = [Statement(name, (i, layer.unit), derivation.deltas[name]) for layer in model.parameter_layers for name in [f"delta{layer.number}"]]
    backward_final, loss_final = [], []
    for name, pg in derivation.parameters.items():
        backward.append(Statement(f"g{name}", pg.component.indices, pg.data_part))
        if pg.penalty != 0:
            accumulated = sp.IndexedBase(f"g{name}")[pg.component.indices]
            backward_final.append(Statement(f"g{name}", pg.component.indices, accumulated + _numeric_lambda(pg.penalty, derivation)))
    if model.penalty != 0:
        loss_final.append(Statement("R", (), mo.R_symbol + _numeric_lambda(model.penalty, derivation)))
    programs = {"forward": forward, "loss": loss, "backward": backward, "loss_final": loss_final, "backward_final": backward_final}
    # Overflow-free forms of σ, g and their derivatives (exact identities).
    return {part: [replace(st, expr=stabilize(st.expr)) for st in program] for part, program in programs.items()}


def _numeric_lambda(expr: sp.Expr, derivation: Derivation) -> sp.Expr:
    """λ replaced by the spec's number: the kernel is built for one λ."""
    return expr.xreplace({mo.LAMBDA: mo.penalty_weight(derivation.spec)})


def print_kernel(derivation: Derivation) -> KernelSource:
    """Lower and print the programs, and print the LaTeX for the docstrings."""
    programs = statements(derivation)
    unit = frozenset({mo.k}) if derivation.spec.outputs == 1 else frozenset()
    forward = print_operations(lower(programs["forward"]), unit_axes=unit)
    loss = print_operations(lower(programs["loss"]), blocked=True, unit_axes=unit)
    # The block function of loss_and_grad computes R and the backward pass together, sharing temporaries.
    backward = print_operations(lower(programs["loss"] + programs["backward"]), blocked=True, unit_axes=unit)
    loss_final = print_operations(lower(programs["loss_final"]), unit_axes=unit)
    backward_final = print_operations(lower(programs["backward_final"]), unit_axes=unit)
    parts = (forward, loss, backward, loss_final, backward_final)
    imports = tuple(sorted(set().union(*(part.modules for part in parts)) | {"numpy"}))
    if imports != ("numpy",):
        raise InternalError(f"a kernel must import numpy only, but the printer used {imports}")

    def plain(lines: list[str]) -> tuple[str, ...]:
        return tuple(line.replace("&", "").replace(r"\text{where}\quad ", "") for line in lines)

    model = derivation.model
    grad_doc = plain(lx.delta_tex(derivation) + [lx.backprop_tex(name, derivation) for name in derivation.parameters])
    return KernelSource(
        forward_lines=tuple(forward.lines),
        loss_lines=tuple(loss.lines),
        loss_setup=tuple(loss.setup),
        loss_final=tuple(loss_final.lines),
        grad_lines=tuple(backward.lines),
        grad_setup=tuple(backward.setup),
        grad_final=tuple(backward_final.lines),
        uses_ones=any(part.uses_ones for part in parts),
        imports=imports,
        forward_doc=plain(lx.definitions_tex(derivation)),
        loss_doc=(f"R = {lx.tex(model.total_loss(), derivation)}",),
        grad_doc=grad_doc,
    )


def command_for(spec: Spec, name: str | None = None) -> str:
    """The ``symbp emit`` command that regenerates a kernel for this spec (and name)."""
    parts = ["symbp", "emit", "--hidden", spec.hidden_text(), "--sigma", spec.sigma_text(), "--g", spec.g.text]
    if name is not None:
        parts += ["--name", name]
    if spec.inputs is not None:
        parts += ["--inputs", str(spec.inputs)]
    if spec.outputs != 1:
        parts += ["--outputs", str(spec.outputs)]
    if spec.loss.value != "quadratic":
        parts += ["--loss", spec.loss.value]
    if spec.l2:
        parts += ["--l2", repr(spec.l2)]
    return shlex.join(parts)


def spec_hash(spec: Spec) -> str:
    """A digest of everything the kernel depends on (the spec and the kernel format)."""
    sigmas = "".join(sp.srepr(s.expr) for s in spec.sigma)
    text = repr(sorted(spec.as_dict().items())) + sigmas + sp.srepr(spec.g.expr) + f"format={KERNEL_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()


def render_kernel(derivation: Derivation, name: str | None = None) -> str:
    """The complete text of the kernel module, ending with the hash of its own body."""
    spec = derivation.spec
    source = print_kernel(derivation)
    shape = layout(derivation)
    body = render(
        TEMPLATE,
        template=TEMPLATE,
        spec_line=spec.describe(),
        command=command_for(spec, name),
        model_text=_model_text(spec.depth),
        size_text=f"M = {spec.hidden[0]} hidden units" if spec.depth == 1 else f"hidden layers of {spec.hidden_text()} units (input to output)",
        loss_text=_loss_text(spec),
        hidden=spec.hidden[0] if spec.depth == 1 else repr(spec.hidden),
        outputs=spec.outputs,
        inputs=repr(spec.inputs),
        spec_dict=repr(spec.as_dict()),
        spec_hash=spec_hash(spec),
        kernel_format=KERNEL_FORMAT,
        size_constants=[f"{const} = {value}" for const, value in shape.size_constants],
        parameters=shape.parameters,
        param_tuple="(" + ", ".join(f'"{name}"' for name in shape.parameters) + ")",
        param_args=", ".join(shape.parameters),
        intermediates=", ".join(shape.intermediates),
        gradients=", ".join(f"g{name}" for name in shape.parameters),
        output_position=len(shape.intermediates) - 1,
        arrays_text=", ".join(f"{n} {s.replace('D', 'd')}" for n, s in shape.shapes),
        shapes=shape.shapes,
        shapes_text=", ".join(f"{n} {s}" for n, s in shape.shapes),
        fan_in=shape.fan_in,
        size_note=", ".join(["D={D}"] + [f"{c}={{{c}}}" for c in (["M"] if spec.depth == 1 else [c for c, _ in shape.size_constants])] + ["p={p}"]),
        forward_lines=source.forward_lines,
        loss_lines=source.loss_lines,
        loss_setup=source.loss_setup,
        loss_final=source.loss_final,
        grad_lines=source.grad_lines,
        grad_setup=source.grad_setup,
        grad_final=source.grad_final,
        block=block_rows(spec),
        ones_name=ONES_OF_BLOCK if source.uses_ones else None,
        imports=source.imports,
        forward_doc=source.forward_doc,
        loss_doc=source.loss_doc,
        grad_doc=source.grad_doc,
    )
    return body + BODY_HASH_PREFIX + body_hash(body) + "\n"


def _model_text(depth: int) -> str:
    """g(A1(s(A2(x)))) and deeper, in plain text for the kernel's docstring."""
    inner = "x"
    for number in range(depth + 1, 1, -1):
        inner = f"s(A{number}({inner}))"
    return f"g(A1({inner}))"


def _loss_text(spec: Spec) -> str:
    text = "R = sum_i ||y_i - f(x_i)||^2" if spec.loss.value == "quadratic" else "R = -sum_i sum_k (y_ik log f_k(x_i) + (1 - y_ik) log(1 - f_k(x_i)))"
    if spec.l2:
        text += f" + lambda sum_l ||W^l||^2 with lambda = {spec.l2!r}"
    return text


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def kernel_name(spec: Spec, name: str | None = None) -> str:
    """The module name: the spec's name, or a user's name checked against ``[a-z][a-z0-9_]*``."""
    if name is None:
        return spec.name
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"kernel name {name!r} is not allowed: use lower-case letters, digits and _, starting with a letter (at most 63 characters)")
    return name


def emit(derivation: Derivation, folder: str | os.PathLike[str] = "generated", name: str | None = None) -> Path:
    """Write the NumPy kernel of a derivation to ``folder/<name>.py``.

    Args:
        derivation: what :func:`symbp.derive` returned.
        folder: where to write (created if missing).
        name: module name; default the spec's name, e.g. ``tanh_identity_m3``.

    Returns:
        The path of the written module.

    Example:
        >>> import symbp, tempfile
        >>> path = emit(symbp.derive(hidden=3, sigma="tanh"), tempfile.mkdtemp())
        >>> path.name
        'tanh_identity_m3.py'
    """
    module = kernel_name(derivation.spec, name)
    text = render_kernel(derivation, name)
    target_folder = Path(folder)
    if target_folder.exists() and not target_folder.is_dir():
        raise UserError(f"cannot write the kernel into {target_folder}: it is a file, not a folder")
    target_folder.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(target_folder / f"{module}.py", text)
