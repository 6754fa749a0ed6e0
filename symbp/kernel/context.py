"""The template context of a kernel: every string the kernel template places, printed here in Python.

A stage of :func:`symbp.kernel.emit.render_kernel` (… → printing → **context** → text).  The
template receives one :class:`KernelContext` and only places its strings: the printed
bodies of the kernel functions, the LaTeX of their docstrings, the names and shapes of
the parameters, the dict literals the functions return, the spec and its hash.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass

import sympy as sp

from symbp.errors import InternalError
from symbp.kernel.format import KERNEL_FORMAT
from symbp.kernel.printing import DTYPE_NAME, ONES_OF_BLOCK, PrintedBlock
from symbp.kernel.programs import Blocks
from symbp.latex.formulas import backprop_tex, definitions_tex, delta_tex, tex
from symbp.spec.network import DType, Loss, Spec
from symbp.symbolic.derivation import Derivation
from symbp.symbolic.model import j, k

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

#: The accuracy contract of a float32 kernel, stated in its docstring and tested (tests/kernel/test_float32.py):
#: each gradient array within this fraction of its norm of the float64 kernel's on the same inputs (plus float32's
#: smallest normal number, for an array that underflows: tanh saturated), …
FLOAT32_GRADIENT_BOUND = "5e-5"
#: … and R within this fraction of |R| + n.
FLOAT32_LOSS_BOUND = "1e-6"

PrintedKernel = Blocks[PrintedBlock]


@dataclass(frozen=True)
class KernelLayout:
    """The names and shapes of a kernel: the parameters, the intermediates, the size constants."""

    parameters: tuple[str, ...]  # W1, b1, W2, b2, …
    intermediates: tuple[str, ...]  # a, h, z, f (a3, h3, a2, h2, z, f for two hidden layers)
    sizes: dict[sp.Symbol, str]  # axis → the kernel's constant for its size (D, M or M2, …, p)
    size_constants: tuple[tuple[str, int], ...]  # (M2, 8), … (empty for one hidden layer: M is the size)
    shapes: tuple[tuple[str, str], ...]  # (W1, "(D, M)"), …
    fan_in: dict[str, str]  # W1 → "M", …: the scale of the random initial weights


@dataclass(frozen=True)
class KernelContext:
    """What the kernel template places (templates/numpy/kernel.py.jinja), every piece already printed.

    Attributes:
        template, spec_line, command: the header: where the file comes from, and how to regenerate it.
        model_text, size_text, loss_text, arrays_text: the module docstring.
        imports: the modules the printed code uses (numpy only).
        kernel_format, spec_dict, spec_hash, hidden, size_constants, outputs, inputs, parameter_tuple, block:
            the module constants, printed.
        ones_name: the module-level vector of BLOCK ones, or None when no body sums with it.
        shapes_text, init_dict: ``init_params``'s docstring and the dict it returns, printed.
        parameter_args, intermediates, output_position: the unpacked parameters, what ``_forward`` returns,
            and the position of f in it.
        forward_lines, loss_setup, loss_lines, loss_final, grad_setup, grad_lines, grad_final: the printed bodies.
        forward_doc, loss_doc, grad_doc: the LaTeX in the docstrings.
        gradients, returns_text, accumulate_lines, grad_dict: the gradients' names, the docstring of
            ``loss_and_grad``'s result, the sums over blocks, and the dict it returns.
        expected_shapes, size_note: the shapes ``_check`` expects, and how its message names the sizes.
        final_comment, scale_note: what is applied after the last block, and (mean) where the code's δ¹ leaves out 1/n.
        float32: the kernel computes in float32: it defines DTYPE and states its accuracy contract.
        loss_result: what ``loss`` and ``loss_and_grad`` return as R: ``R``, or ``float(R)`` when a float32 kernel's
            final lines (the mean, the penalty) may have made it a NumPy float32.
        float_type, dtype_keyword: what ``_check`` converts to (``float`` or ``DTYPE``), and the keyword argument
            its arrays of ones and zeros are made with (empty for float64).
        functions: the kernel's own functions the bodies call (``_tanh``, ``_logistic``), which it defines.
    """

    template: str
    spec_line: str
    command: str
    model_text: str
    size_text: str
    loss_text: str
    arrays_text: str
    imports: tuple[str, ...]
    kernel_format: int
    spec_dict: str
    spec_hash: str
    hidden: str
    size_constants: tuple[str, ...]
    outputs: int
    inputs: str
    parameter_tuple: str
    block: int
    ones_name: str | None
    shapes_text: str
    init_dict: str
    parameter_args: str
    intermediates: str
    output_position: int
    forward_lines: tuple[str, ...]
    loss_setup: tuple[str, ...]
    loss_lines: tuple[str, ...]
    loss_final: tuple[str, ...]
    grad_setup: tuple[str, ...]
    grad_lines: tuple[str, ...]
    grad_final: tuple[str, ...]
    forward_doc: tuple[str, ...]
    loss_doc: tuple[str, ...]
    grad_doc: tuple[str, ...]
    gradients: str
    returns_text: str
    accumulate_lines: tuple[str, ...]
    grad_dict: str
    expected_shapes: str
    size_note: str
    final_comment: str
    scale_note: str
    float32: bool = False
    loss_result: str = "R"
    float32_gradient_bound: str = FLOAT32_GRADIENT_BOUND
    float32_loss_bound: str = FLOAT32_LOSS_BOUND
    float_type: str = "float"
    dtype_keyword: str = ""
    functions: tuple[str, ...] = ()


def kernel_context(derivation: Derivation, printed: PrintedKernel, name: str | None = None) -> KernelContext:
    """Everything the template places, for the derivation's kernel whose bodies were printed as ``printed``.

    Args:
        derivation: what :func:`symbp.derive` returned.
        printed: the printed bodies (:func:`symbp.kernel.printing.print_schedule` of each).
        name: the module name given to ``symbp emit --name`` (it goes into the regeneration command).
    """
    spec = derivation.spec
    shape = layout(derivation)
    parameters = shape.parameters
    imports = tuple(sorted(set().union(*(block.modules for block in printed.values())) | {"numpy"}))
    if imports != ("numpy",):
        raise InternalError(f"a kernel must import numpy only, but the printer used {imports}")
    float32 = spec.dtype is DType.FLOAT32
    size_names = ["M"] if spec.depth == 1 else [constant for constant, _ in shape.size_constants]
    return KernelContext(
        template=TEMPLATE,
        spec_line=spec.describe(),
        command=command_for(spec, name),
        model_text=_model_text(spec.depth),
        size_text=f"M = {spec.hidden[0]} hidden units" if spec.depth == 1 else f"hidden layers of {spec.hidden_text()} units (input to output)",
        loss_text=_loss_text(spec),
        arrays_text=", ".join(f"{n} {s.replace('D', 'd')}" for n, s in shape.shapes),
        imports=imports,
        kernel_format=KERNEL_FORMAT,
        spec_dict=repr(spec.as_dict()),
        spec_hash=spec_hash(spec),
        hidden=str(spec.hidden[0]) if spec.depth == 1 else repr(spec.hidden),
        size_constants=tuple(f"{constant} = {value}" for constant, value in shape.size_constants),
        outputs=spec.outputs,
        inputs=repr(spec.inputs),
        parameter_tuple="(" + ", ".join(f'"{p}"' for p in parameters) + ")",
        block=block_rows(spec),
        ones_name=ONES_OF_BLOCK if any(block.uses_ones for block in printed.values()) else None,
        functions=tuple(sorted(set().union(*(block.functions for block in printed.values())))),
        shapes_text=", ".join(f"{n} {s}" for n, s in shape.shapes),
        init_dict="{\n" + "".join(f"        {_init_entry(n, s, shape.fan_in, float32)}\n" for n, s in shape.shapes) + "    }",
        parameter_args=", ".join(parameters),
        intermediates=", ".join(shape.intermediates),
        output_position=len(shape.intermediates) - 1,
        forward_lines=printed.forward.lines,
        loss_setup=printed.loss.setup,
        loss_lines=printed.loss.lines,
        loss_final=printed.loss_final.lines,
        grad_setup=printed.grad.setup,
        grad_lines=printed.grad.lines,
        grad_final=printed.grad_final.lines,
        **_docstrings(derivation),
        gradients=", ".join(f"g{p}" for p in parameters),
        returns_text="(R, {" + ", ".join(f'"{p}": ...' for p in parameters) + "})",
        accumulate_lines=tuple(f"g{p} += block[{position}]" for position, p in enumerate(parameters, start=1)),
        grad_dict="{" + ", ".join(f'"{p}": g{p}' for p in parameters) + "}",
        expected_shapes="{" + ", ".join(f'"{n}": {s}' for n, s in shape.shapes) + "}",
        size_note=", ".join(["D={D}"] + [f"{c}={{{c}}}" for c in size_names] + ["p={p}"]),
        **_final_texts(spec),
        float32=float32,
        loss_result="float(R)" if float32 and printed.loss_final.lines else "R",
        float_type=DTYPE_NAME if float32 else "float",
        dtype_keyword=f", dtype={DTYPE_NAME}" if float32 else "",
    )


def layout(derivation: Derivation) -> KernelLayout:
    """Names and shapes of a kernel for the derivation's network."""
    model = derivation.model
    sizes: dict[sp.Symbol, str] = {k: "D", j: "p"}
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
    if derivation.spec.loss is Loss.SOFTMAX:  # the log-partition s, which the loss reads, before f
        intermediates.insert(-1, "s")
    return KernelLayout(
        parameters=model.parameters,
        intermediates=tuple(intermediates),
        sizes=sizes,
        size_constants=tuple(constants),
        shapes=tuple(shapes),
        fan_in=fan_in,
    )


def block_rows(spec: Spec) -> int:
    """Rows per block for a spec's kernel: the most (a power of two) whose widest array fits BLOCK_BYTES."""
    widest = max((*spec.hidden, spec.outputs))
    rows = BLOCK_ROWS_MAX
    while rows > BLOCK_ROWS_MIN and rows * widest * 8 > BLOCK_BYTES:
        rows //= 2
    return rows


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
    if spec.mean:
        parts += ["--reduction", spec.reduction.value]
    if spec.dtype is not DType.FLOAT64:
        parts += ["--dtype", spec.dtype.value]
    return shlex.join(parts)


def spec_hash(spec: Spec) -> str:
    """A digest of everything the kernel depends on (the spec and the kernel format)."""
    sigmas = "".join(sp.srepr(s.expr) for s in spec.sigma)
    text = repr(sorted(spec.as_dict().items())) + sigmas + sp.srepr(spec.g.expr) + f"format={KERNEL_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()


def _init_entry(name: str, shape: str, fan_in: dict[str, str], float32: bool = False) -> str:
    """One entry of the dict ``init_params`` returns: W ~ N(0, 1/fan_in), b = 0.

    A float32 kernel rounds the float64 draws, so that its start is the float64 kernel's start rounded.
    """
    if name in fan_in:
        draw = f"rng.standard_normal({shape}) / numpy.sqrt({fan_in[name]})"
        return f'"{name}": ({draw}).astype({DTYPE_NAME}),' if float32 else f'"{name}": {draw},'
    return f'"{name}": numpy.zeros({shape[1:-2]}, dtype={DTYPE_NAME}),' if float32 else f'"{name}": numpy.zeros({shape[1:-2]}),'


def _docstrings(derivation: Derivation) -> dict[str, tuple[str, ...]]:
    """The LaTeX of the docstrings: the forward pass, R, δ^l and the gradients in backpropagation form."""

    def plain(lines: list[str]) -> tuple[str, ...]:
        return tuple(line.replace("&", "").replace(r"\text{where}\quad ", "") for line in lines)

    model = derivation.model
    return {
        "forward_doc": plain(definitions_tex(derivation)),
        "loss_doc": (f"R = {tex(model.total_loss(), derivation)}",),
        "grad_doc": plain(delta_tex(derivation) + [backprop_tex(name, derivation) for name in derivation.parameters]),
    }


def _final_texts(spec: Spec) -> dict[str, str]:
    """The comment on what is applied after the last block, and the docstring's note on the mean's 1/n."""
    if not spec.mean:
        return {"final_comment": "The L2 penalty has no sum over samples: added once, after the last block.", "scale_note": ""}
    penalty = " and the L2 penalty added" if spec.l2 else ""
    return {
        "final_comment": f"The mean: the sums over all n rows divided by n once, after the last block{penalty}.",
        "scale_note": "The code's delta1 leaves out the factor 1/n; the sums over samples are divided by n once, at the end.",
    }


def _model_text(depth: int) -> str:
    """g(A1(s(A2(x)))) and deeper, in plain text for the kernel's docstring."""
    inner = "x"
    for number in range(depth + 1, 1, -1):
        inner = f"s(A{number}({inner}))"
    return f"g(A1({inner}))"


def _loss_text(spec: Spec) -> str:
    text = {
        Loss.QUADRATIC: "R = sum_i ||y_i - f(x_i)||^2",
        Loss.BCE: "R = -sum_i sum_k (y_ik log f_k(x_i) + (1 - y_ik) log(1 - f_k(x_i)))",
        Loss.SOFTMAX: "R = -sum_i sum_k y_ik log f_k(x_i), f = softmax(z) over the d classes,",
    }[spec.loss]
    if spec.mean:
        text = text.replace("R = ", "R = (1/n) ", 1) + " (the mean over the n samples)"
    if spec.l2:
        text += f" + lambda sum_l ||W^l||^2 with lambda = {spec.l2!r}"
    return text
