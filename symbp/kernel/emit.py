"""Emitting NumPy gradient kernels: the code path of the pipeline as one driver.

:func:`render_kernel` reads as the pipeline, one named stage per line, each taking and
returning one typed value:

    derivation → kernel programs (index notation) → lowered operations → scheduled
    operations → printed bodies → template context → text

and :func:`emit` writes the text.  Every intermediate can be looked at by calling the
stages one by one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from symbp.errors import UserError
from symbp.files import make_folder, write_text_atomic
from symbp.kernel.cache import remember
from symbp.kernel.context import TEMPLATE, kernel_context, layout
from symbp.kernel.format import BODY_HASH_PREFIX
from symbp.kernel.lower import lower_kernel
from symbp.kernel.printing import DTYPE_NAME, Buffers, print_schedule
from symbp.kernel.programs import Blocks, kernel_programs
from symbp.kernel.schedule import schedule
from symbp.render import render
from symbp.spec.network import NAME_PATTERN, DType, Spec
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.model import k

#: The bodies printed with buffers: those evaluated on a block of samples, and the forward pass they share.
BUFFERED = ("forward", "loss", "grad")


def render_kernel(derivation: Derivation, name: str | None = None) -> str:
    """The complete text of the kernel module, ending with the hash of its own body.

    Args:
        derivation: what :func:`symbp.derive` returned.
        name: the module name given to ``--name``, recorded in the regeneration command.
    """
    # With one output (d = 1) the output axis has length 1: a product over it is a broadcast.
    unit_axes = frozenset({k}) if derivation.spec.outputs == 1 else frozenset()
    programs = kernel_programs(derivation)
    lowered = lower_kernel(programs)
    scheduled = lowered.map(lambda operations, blocked: schedule(operations, blocked, unit_axes))
    # A float32 kernel makes its arrays of ones in its DTYPE: float64 ones would turn its sums to float64.
    dtype = DTYPE_NAME if derivation.spec.dtype is DType.FLOAT32 else None
    # The bodies that run on a block of samples (and _forward, which they call) write into kept arrays.
    sizes = layout(derivation).sizes
    printed = Blocks(**{
        name: print_schedule(body, Buffers(sizes, name) if name in BUFFERED else None, dtype) for name, body in scheduled.items()
    })
    context = kernel_context(derivation, printed, name)
    body = render(TEMPLATE, k=context)
    return body + BODY_HASH_PREFIX + body_hash(body) + "\n"


def body_hash(body: str) -> str:
    """SHA-256 of a kernel's text above its last line, hex: what the last line records."""
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
    target_folder = make_folder(folder, "the kernel")
    path = write_text_atomic(target_folder / f"{module}.py", text)
    # This symbp emitted the text: loading it needs no second emission to verify it.
    remember(hashlib.sha256(text.encode("utf-8")).hexdigest(), note=path.name)
    return path
