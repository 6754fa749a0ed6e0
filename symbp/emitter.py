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

from symbp import latex as lx
from symbp import model as mo
from symbp.codeprint import print_operations
from symbp.derivation import Derivation
from symbp.errors import InternalError, UserError
from symbp.files import write_text_atomic
from symbp.kernel_format import BODY_HASH_PREFIX, KERNEL_FORMAT
from symbp.lower import Statement, lower
from symbp.render import render
from symbp.spec import NAME_PATTERN, Spec
from symbp.stable import stabilize

TEMPLATE = "numpy/kernel.py.jinja"
#: Samples per block in loss and loss_and_grad: the working memory stays a few
#: blocks of (BLOCK_ROWS × M) floats whatever n is, and each block stays in cache.
BLOCK_ROWS = 2048


@dataclass(frozen=True)
class KernelSource:
    """What the printing stage hands to the template: printed lines and LaTeX, nothing to compute."""

    forward_lines: tuple[str, ...]
    loss_lines: tuple[str, ...]
    loss_init: tuple[str, ...]
    grad_lines: tuple[str, ...]
    grad_init: tuple[str, ...]
    imports: tuple[str, ...]
    forward_doc: tuple[str, ...]
    loss_doc: tuple[str, ...]
    grad_doc: tuple[str, ...]


def statements(derivation: Derivation) -> dict[str, list[Statement]]:
    """The kernel's three programs in index notation, straight from the derivation."""
    i, k, m = mo.i, mo.k, mo.m
    model = derivation.model
    forward = [
        Statement("a", (i, m), mo.a_def(i, m)),
        Statement("h", (i, m), model.concrete_sigma(mo.a[i, m])),
        Statement("z", (i, k), mo.z_def(i, k)),
        Statement("f", (i, k), model.concrete_g(mo.z[i, k])),
    ]
    loss = [Statement("R", (), sp.Sum(mo.loss_term(mo.y[i, k], mo.f[i, k]), (k, 1, mo.d), (i, 1, mo.n)), total=True)]
    backward = [
        Statement("delta1", (i, k), derivation.deltas["delta1"]),
        Statement("delta2", (i, m), derivation.deltas["delta2"]),
    ]
    for name in mo.PARAMETERS:
        component = derivation.parameters[name].component
        backward.append(Statement(f"g{name}", component.indices, derivation.parameters[name].backprop))
    # Overflow-free forms of σ, g and their derivatives (exact identities).
    return {part: [replace(st, expr=stabilize(st.expr)) for st in program] for part, program in (("forward", forward), ("loss", loss), ("backward", backward))}


def print_kernel(derivation: Derivation) -> KernelSource:
    """Lower and print the three programs, and print the LaTeX for the docstrings."""
    programs = statements(derivation)
    unit = frozenset({mo.k}) if derivation.spec.outputs == 1 else frozenset()
    forward = print_operations(lower(programs["forward"]), unit_axes=unit)
    loss = print_operations(lower(programs["loss"]), blocked=True, unit_axes=unit)
    backward = print_operations(lower(programs["backward"]), blocked=True, unit_axes=unit)
    imports = tuple(sorted(forward.modules | loss.modules | backward.modules | {"numpy"}))
    if imports != ("numpy",):
        raise InternalError(f"a kernel must import numpy only, but the printer used {imports}")

    def plain(lines: list[str]) -> tuple[str, ...]:
        return tuple(line.replace("&", "").replace(r"\text{where}\quad ", "") for line in lines)

    i, k = mo.i, mo.k
    total = sp.Sum(mo.loss_term(mo.y[i, k], mo.f[i, k]), (k, 1, mo.d), (i, 1, mo.n))
    grad_doc = plain(lx.delta_tex(derivation) + [lx.backprop_tex(name, derivation) for name in mo.PARAMETERS])
    return KernelSource(
        forward_lines=tuple(forward.lines),
        loss_lines=tuple(loss.lines),
        loss_init=tuple(loss.init),
        grad_lines=tuple(backward.lines),
        grad_init=tuple(backward.init),
        imports=imports,
        forward_doc=plain(lx.definitions_tex(derivation)),
        loss_doc=(f"R = {lx.tex(total, derivation)}",),
        grad_doc=grad_doc,
    )


def command_for(spec: Spec, name: str | None = None) -> str:
    """The ``symbp emit`` command that regenerates a kernel for this spec (and name)."""
    parts = ["symbp", "emit", "--hidden", str(spec.hidden), "--sigma", spec.sigma.text, "--g", spec.g.text]
    if name is not None:
        parts += ["--name", name]
    if spec.inputs is not None:
        parts += ["--inputs", str(spec.inputs)]
    if spec.outputs != 1:
        parts += ["--outputs", str(spec.outputs)]
    return shlex.join(parts)


def spec_hash(spec: Spec) -> str:
    """A digest of everything the kernel depends on (the spec and the kernel format)."""
    text = repr(sorted(spec.as_dict().items())) + sp.srepr(spec.sigma.expr) + sp.srepr(spec.g.expr) + f"format={KERNEL_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()


def render_kernel(derivation: Derivation, name: str | None = None) -> str:
    """The complete text of the kernel module, ending with the hash of its own body."""
    spec = derivation.spec
    source = print_kernel(derivation)
    body = render(
        TEMPLATE,
        template=TEMPLATE,
        spec_line=spec.describe(),
        command=command_for(spec, name),
        hidden=spec.hidden,
        outputs=spec.outputs,
        inputs=repr(spec.inputs),
        spec_dict=repr(spec.as_dict()),
        spec_hash=spec_hash(spec),
        kernel_format=KERNEL_FORMAT,
        forward_lines=source.forward_lines,
        loss_lines=source.loss_lines,
        loss_init=source.loss_init,
        grad_lines=source.grad_lines,
        grad_init=source.grad_init,
        block=BLOCK_ROWS,
        imports=source.imports,
        forward_doc=source.forward_doc,
        loss_doc=source.loss_doc,
        grad_doc=source.grad_doc,
    )
    return body + BODY_HASH_PREFIX + body_hash(body) + "\n"


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
