"""Property tests: nothing a user types is injected into generated code or LaTeX.

Three parts:

1. Kernel names (``emit(..., name=...)``): arbitrary text is either refused with a
   one-line :class:`~symbp.errors.UserError` (and nothing is written), or the
   module is written into the target folder only, imports cleanly and defines
   exactly the names of a reference kernel, with the reference kernel's code.
2. σ expressions generated from the whitelist grammar: refused only with
   :class:`~symbp.errors.ExpressionError`; when accepted, the kernel imports only
   numpy, defines exactly the reference names, carries the raw text only in its
   header comments and ``SPEC``, and its gradient matches finite differences of
   its own loss.  The LaTeX document carries the raw text only in its
   ``% Spec:`` comment line.
3. Hostile text mixed with accepted syntax (comments, quotes, newlines) is
   refused by the parser before anything is derived or written.

Hypothesis runs derandomized (no example database), so CI sees the same
examples on every run.
"""

from __future__ import annotations

import ast
import contextlib
import io
import itertools
import os
import shlex
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

import symbp
from symbp import cli
from tests.helpers import SLOW, slow_after
from symbp.kernel import load
from symbp.kernel.emit import emit
from symbp.errors import ExpressionError, UserError
from symbp.spec.functions import FUNCTIONS, OUTPUT_ALIASES, OUTPUTS, X, parse
from symbp.kernel.load import load_kernel
from symbp.spec.network import NAME_PATTERN
from symbp.testing import check_grad, max_relative_error, numeric_grad, random_problem

#: Reproducible runs: a seed derived from each test's name, no example database.
REPRODUCIBLE = dict(derandomize=True, database=None, deadline=None, print_blob=False)

#: Every name a kernel module defines besides the attributes the import machinery sets.
DOCUMENTED_NAMES = set(load.INTERFACE) | {"KERNEL_FORMAT", "SPEC_SHA256", "_forward", "_loss_block", "_loss_and_grad_block", "_loss_and_grad_arrays", "_check", "numpy"}
#: The template's runtime, the same in every kernel: blocks on threads, kept arrays, BLAS on one thread.
RUNTIME_NAMES = {"os", "threading", "_Arrays", "_Kept", "_KEPT", "_Blocks", "_threads", "_POOL", "_POOL_LOCK", "_pool", "_OneBlasThread", "_openblas_thread_functions", "_ONE_BLAS_THREAD"}
#: The kernel's own functions, each defined only by a kernel that calls it (symbp.kernel.printer.FUNCTIONS).
KERNEL_FUNCTIONS = {"_tanh", "_logistic"}
#: The imports a kernel may make: NumPy, and the standard library's threads (ctypes sets BLAS's thread count).
ALLOWED_IMPORTS = {"import numpy", "import os", "import threading", "import concurrent.futures", "import ctypes"}

#: The spec of the reference kernel everything is compared with.
REFERENCE_SPEC = dict(hidden=2, sigma="tanh", g="identity", inputs=2)

#: Functions the random expressions use: the whole whitelist (test_every_whitelisted_function_can_be_emitted
#: checks each of them alone first, so that a function the printer cannot print fails there, by name).
RANDOM_FUNCTIONS = sorted(FUNCTIONS)


# --- helpers -------------------------------------------------------------------------------------


def files_under(root: Path) -> set[str]:
    """Every file and folder below ``root`` (dot files included), relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def one_line(message: str) -> bool:
    return bool(message) and message.splitlines() == [message]


def module_names(module) -> set[str]:
    """The names a kernel module defines, but for the kernel functions (defined by the kernels that call them)."""
    return set(vars(module)) - KERNEL_FUNCTIONS


def global_loads(tree: ast.Module) -> set[str]:
    """Names a module reads that it never binds itself: its globals from outside and the builtins it uses."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name)
    loads = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return loads - bound


def top_level_shape(tree: ast.Module) -> list[tuple[str, str]]:
    """The module's top-level statements as (kind, name): what it imports, assigns and defines
    (but for the kernel functions, which a kernel defines where it needs them)."""
    shape = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in KERNEL_FUNCTIONS:
            continue
        if isinstance(node, ast.Import):
            shape.append(("import", ",".join(a.name for a in node.names)))
        elif isinstance(node, ast.Assign):
            shape.append(("assign", ",".join(ast.unparse(t) for t in node.targets)))
        elif isinstance(node, ast.FunctionDef):
            shape.append(("def", node.name))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            shape.append(("docstring", ""))
        else:
            shape.append((type(node).__name__, ast.unparse(node)[:40]))
    return shape


#: Builtins a kernel may use beyond those of the reference kernel: SymPy's NumPy printer
#: prints Abs as Python's abs, which works elementwise on arrays.
EXTRA_BUILTINS = {"abs"}


def check_standalone(source: str, reference_source: str) -> ast.Module:
    """The kernel imports numpy and the standard library's threads only, and uses nothing from outside but them and the reference kernel's builtins."""
    tree = ast.parse(source)
    reference = ast.parse(reference_source)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert {ast.unparse(node) for node in imports} == ALLOWED_IMPORTS and len(imports) == len(ALLOWED_IMPORTS)
    assert {line.strip() for line in source.splitlines() if line.strip().startswith(("import", "from"))} == ALLOWED_IMPORTS
    assert source.count("__") == reference_source.count("__")  # no dunder the template did not write
    assert top_level_shape(tree) == top_level_shape(reference)
    allowed = global_loads(reference) | EXTRA_BUILTINS
    assert global_loads(tree) <= allowed, global_loads(tree) - allowed
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), ast.unparse(node)
            if isinstance(node.value, ast.Name) and node.value.id == "numpy":
                assert hasattr(np, node.attr), ast.unparse(node)
    return tree


# --- the reference kernel ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_kernel(tmp_path_factory):
    """The kernel of REFERENCE_SPEC under its default name: its derivation, path, source and module."""
    derivation = symbp.derive(**REFERENCE_SPEC)
    path = emit(derivation, tmp_path_factory.mktemp("reference"))
    module = load_kernel(path)
    return derivation, path, path.read_text(encoding="utf-8"), module


def test_reference_kernel_defines_the_documented_names(reference_kernel) -> None:
    # Every other kernel must define exactly the reference kernel's names; those
    # include at least the documented ones (and any constant the template adds, e.g. BLOCK).
    _, _, source, module = reference_kernel
    names = {name for name in vars(module) if not name.startswith("__")}
    assert DOCUMENTED_NAMES | RUNTIME_NAMES <= names
    assert "_tanh" in names  # σ = tanh
    others = names - DOCUMENTED_NAMES - RUNTIME_NAMES - KERNEL_FUNCTIONS
    assert all(name.isupper() for name in others), others
    check_standalone(source, source)


# --- 1. kernel names -----------------------------------------------------------------------------

NASTY_NAMES = [
    "",
    "a" * 63,  # the longest name allowed
    "a" * 64,
    "a" * 300,  # longer than a file name may be
    "abc\n",
    "\nabc",
    "abc\r\nimport os",
    'a"""; import os; """',
    "a'",
    "a\\b",
    "a/b",
    "../evil",
    "../../tmp/evil",
    "/tmp/evil",
    "~/evil",
    "a\x00b",
    "__import__",
    "__init__",
    "__import__('os').system('true')",
    "_private",
    "import",  # a keyword, but a fine file name
    "numpy",
    "os",
    "con",
    "Tanh",
    "tanh-identity",
    "tanh.identity",
    "tanh identity",
    "1abc",
    "ａｂｃ",  # full-width letters
    "abc\u2028def",
    "abc\u0085",
    "ſigmoid",  # long s: not an ASCII letter
    "\u212aelvin",  # Kelvin sign
    "ı",
    "é",
    "😀",
    "a\tb",
]

names = st.one_of(
    st.text(),
    st.text(min_size=60, max_size=3000),
    st.from_regex(NAME_PATTERN, fullmatch=True),
    # An accepted name with something hostile before or after it.
    st.tuples(st.from_regex(NAME_PATTERN, fullmatch=True), st.text(min_size=1, max_size=20), st.booleans()).map(
        lambda t: t[0] + t[1] if t[2] else t[1] + t[0]
    ),
    st.sampled_from(NASTY_NAMES),
    st.integers(0, 400).map(lambda n: "k" * n),
)


@SLOW
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], **REPRODUCIBLE)
@given(name=names)
@example(name="a" * 63)
@example(name="a" * 64)
@example(name="abc\n")
@example(name="../evil")
def test_kernel_name_is_refused_or_harmless(reference_kernel, tmp_path_factory, name: str) -> None:
    derivation, _, reference_source, reference_module = reference_kernel
    root = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    target, cwd = root / "out", root / "cwd"
    cwd.mkdir()
    before = files_under(root)
    previous = os.getcwd()
    os.chdir(cwd)  # relative paths would land inside root, where they are seen
    try:
        try:
            path = emit(derivation, target, name=name)
        except UserError as err:
            event("refused")
            assert one_line(str(err)), str(err)
            assert files_under(root) == before, "a refused name must write nothing"
            assert not NAME_PATTERN.fullmatch(name)
            return
    finally:
        os.chdir(previous)
    event("accepted")
    assert NAME_PATTERN.fullmatch(name)
    assert path == target / f"{name}.py"
    assert files_under(root) == before | {"out", f"out/{name}.py"}, "files appeared outside the target folder"
    source = path.read_text(encoding="utf-8")
    # The name never enters the module: the code is the reference kernel's code,
    # and any line that differs is a comment.
    assert ast.dump(ast.parse(source)) == ast.dump(ast.parse(reference_source))
    reference_lines = set(reference_source.splitlines())
    assert all(line.startswith("#") for line in source.splitlines() if line not in reference_lines)
    module = load_kernel(path)
    assert module_names(module) == module_names(reference_module)
    assert module.SPEC == reference_module.SPEC


# --- 2. random σ expressions ---------------------------------------------------------------------

NUMBERS = st.sampled_from(["0", "1", "2", "3", "0.5", "1.5", "0.25", "pi", "e"])
SPACE = st.sampled_from(["", " "])


def _call(name: str, args: tuple[str, ...]) -> str:
    # log and sqrt get an argument ≥ 1, so that they are defined and smooth everywhere.
    if name in ("log", "sqrt"):
        return f"{name}(1 + ({args[0]})**2)"
    return f"{name}({', '.join(args)})"


def expressions(depth: int) -> st.SearchStrategy[str]:
    """Expression text from the whitelist grammar, nested at most ``depth`` deep.

    Denominators are 1 + (…)**2 and exponents 2 or 3, so that every expression
    is defined and finite for every real x (up to overflow, which the test skips).
    """
    leaves = st.one_of(st.just("x"), st.just("x"), NUMBERS)
    if depth == 0:
        return leaves
    sub = expressions(depth - 1)
    calls = [
        st.tuples(*[sub] * FUNCTIONS[name][0]).map(lambda args, name=name: _call(name, args)) for name in RANDOM_FUNCTIONS
    ]
    # Hypothesis favours the first branches (and shrinks towards them): calls and
    # operators come first, leaves and negation last.
    return st.one_of(
        *calls,
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub, SPACE).map(lambda t: f"({t[0]}){t[3]}{t[1]}{t[3]}({t[2]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]}) / (1 + ({t[1]})**2)"),
        st.tuples(sub, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})**{t[1]}"),
        leaves,
        sub.map(lambda a: f"-({a})"),
    )


SIGMAS = expressions(3)
NAMED_G = st.sampled_from(sorted(OUTPUTS) + sorted(OUTPUT_ALIASES))


def switching_functions(expr: sp.Expr) -> list:
    """Where an expression is not differentiable: the arguments of abs/sign/Heaviside and the differences of max/min arguments.

    The random expressions are smooth except where one of these changes sign
    (log and sqrt have arguments ≥ 1, denominators are ≥ 1).
    """
    found = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
            found.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            found.extend(a - b for a, b in itertools.combinations(node.args, 2))
    return [sp.lambdify(X, s, modules="numpy") for s in found if s.has(X)]


def kink_near(switches: list, params: dict, X_data: np.ndarray, eps: float) -> bool:
    """True if a kink of σ lies within the reach of numeric_grad's steps.

    numeric_grad moves one entry θ of W2 or b2 by ±ε·max(1, |θ|) and ±2ε·max(1, |θ|),
    which moves a pre-activation a_im by at most 2ε·max(1, |θ|)·max(1, |x_ij|).  We
    sample every switching function on a grid 25 % wider than that around each a_im
    and report a kink if any sample is 0 or differs in sign from the others: then
    the finite differences straddle a kink and disagree with the one-sided
    derivative for a reason that is no bug.  (W1 and b1 do not move a.)
    """
    if not switches:
        return False
    a = X_data @ params["W2"].T + params["b2"]
    theta = max(1.0, float(np.max(np.abs(params["W2"]))), float(np.max(np.abs(params["b2"]))))
    reach = 2.5 * eps * theta * max(1.0, float(np.max(np.abs(X_data))))
    grid = a[..., None] + np.linspace(-reach, reach, 41)
    for s in switches:
        values = np.broadcast_to(np.asarray(s(grid), dtype=float), grid.shape)
        if not np.all(np.isfinite(values)):
            return True
        signs = np.sign(values)
        if np.any(signs == 0) or np.any(signs != signs[..., :1]):
            return True
    return False


def check_latex(derivation, text: str) -> None:
    """The document holds SymPy's LaTeX and the template's; the raw text only in its one ``% Spec:`` comment line."""
    document = derivation.document()
    for forbidden in ("__", "import", '"""', "#", '"'):
        assert forbidden not in document, forbidden
    lines = document.splitlines()
    comments = [line for line in lines if line.startswith("%")]
    assert len(comments) == 3 and comments[1] == f"% Spec: {derivation.spec.describe()}"
    # Python's ** can only come from the raw text: SymPy's LaTeX writes powers as ^{…}.
    assert not any("**" in line for line in lines if line != comments[1])
    # Elsewhere % appears only escaped, so no comment can start mid-line and swallow the rest of it.
    assert all(line.count("%") == line.count(r"\%") for line in lines if not line.startswith("%"))
    if len(text) > 3:  # "x" or "2*x" may occur in SymPy's own output
        assert [line for line in lines if text in line] == [comments[1]]
    assert text not in derivation.latex() or len(text) <= 3


def check_raw_text_in_kernel(source: str, spec) -> None:
    """The raw σ text appears only in the header comments and in SPEC, and round-trips through both."""
    lines = source.splitlines()
    text = spec.sigma[0].text
    if len(text) > 3:
        holders = [line for line in lines if text in line]
        assert all(line.startswith(("# Spec: ", "# Regenerate with: ", "SPEC = ")) for line in holders), holders
    (spec_line,) = [line for line in lines if line.startswith("SPEC = ")]
    assert ast.literal_eval(spec_line[len("SPEC = "):]) == spec.as_dict()
    (command,) = [line for line in lines if line.startswith("# Regenerate with: ")]
    argv = shlex.split(command[len("# Regenerate with: "):])
    assert argv[argv.index("--sigma") + 1] == text and argv[argv.index("--g") + 1] == spec.g.text


@SLOW
@settings(max_examples=35, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], **REPRODUCIBLE)
@given(sigma=SIGMAS, g=NAMED_G, seed=st.integers(0, 2**16))
@example(sigma="x/(1+exp(-x))", g="identity", seed=0)
@example(sigma="relu(x) + 0.25*abs(x)", g="tanh", seed=1)
@example(sigma="max(sin(x), min(x, 0.5))", g="sigmoid", seed=2)
@example(sigma="sqrt(1 + (x)**2) - log(1 + (x)**2)", g="exp", seed=3)
@example(sigma="cos(cosh(cosh(x)))", g="exp", seed=0)  # skipped: finite differences do not resolve it
@example(sigma="cos(cosh(cosh(x)))", g="exp", seed=1)  # checked: here they do
def test_random_sigma_gives_a_clean_kernel_with_the_right_gradient(reference_kernel, tmp_path_factory, sigma: str, g: str, seed: int) -> None:
    _, _, reference_source, reference_module = reference_kernel
    try:
        derivation = symbp.derive(hidden=2, sigma=sigma, g=g, inputs=2)
    except ExpressionError as err:
        # Refusals are allowed (e.g. "(2) + (pi)" does not depend on x), but only as ExpressionError.
        event(f"refused: {str(err).split(':')[0][:40]}")
        assert one_line(str(err))
        return
    event("derived")
    check_latex(derivation, derivation.spec.sigma[0].text)

    folder = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    path = emit(derivation, folder)
    assert files_under(folder) == {path.name}
    source = path.read_text(encoding="utf-8")
    check_standalone(source, reference_source)
    check_raw_text_in_kernel(source, derivation.spec)
    k = load_kernel(path)
    assert module_names(k) == module_names(reference_module)

    # The gradient of the kernel equals finite differences of its own loss.
    params, X_data, y = random_problem(derivation, n=7, seed=seed)
    with np.errstate(all="ignore"):
        loss, grad = k.loss_and_grad(params, X_data, y)
        # Overflow (exp(cosh(x**3)) at |x| = 3) makes the check meaningless; so does a loss so
        # large that rounding in the finite differences exceeds rtol.
        assume(np.isfinite(loss) and abs(loss) < 1e8 and all(np.all(np.isfinite(v)) for v in grad.values()))
        if kink_near(switching_functions(derivation.spec.sigma[0].expr), params, X_data, eps=1e-3):
            event("skipped: kink within the finite-difference step")
            assume(False)
        numeric = numeric_grad(lambda prm: k.loss(prm, X_data, y), params, eps=1e-3)
        assume(all(np.all(np.isfinite(v)) for v in numeric.values()))
        # Finite differences can only judge the kernel where they resolve the loss:
        # cos(cosh(cosh(x))) at x = 3 oscillates with a period far below the step.
        # Halving the step must leave the estimate unchanged (to well within rtol);
        # otherwise the finite differences disagree with themselves and prove nothing.
        finer = numeric_grad(lambda prm: k.loss(prm, X_data, y), params, eps=5e-4)
        if not max_relative_error(finer, numeric) <= 1e-7:
            event("skipped: finite differences not converged")
            assume(False)
    check_grad(grad, numeric, rtol=1e-6, what=f"kernel for sigma={sigma!r}, g={g!r} vs finite differences of its loss")
    event("gradient checked")


def test_kink_detector_sees_a_kink_under_the_step_and_only_there() -> None:
    derivation = symbp.derive(hidden=2, sigma="relu(x) + abs(x - 1)", inputs=2)
    params, X_data, _ = random_problem(derivation, n=5, seed=0)
    switches = switching_functions(derivation.spec.sigma[0].expr)
    assert len(switches) == 2
    a = X_data @ params["W2"].T + params["b2"]
    on_kink = {**params, "b2": params["b2"] - a[2] + np.array([0.0, 1.0])}  # a[2, 0] = 0, a[2, 1] = 1
    assert kink_near(switches, on_kink, X_data, eps=1e-3)
    near_kink = {**params, "b2": on_kink["b2"] + np.array([1e-3, 0.0])}  # within 2ε of the kink at 0
    assert kink_near(switches, near_kink, X_data, eps=1e-3)
    far = {**params, "W2": np.zeros((2, 2)), "b2": np.array([-0.5, 2.0])}  # a = -0.5 and 2: no kink near
    assert not kink_near(switches, far, X_data, eps=1e-3)


@pytest.mark.parametrize("name", slow_after(sorted(FUNCTIONS)))
def test_every_whitelisted_function_can_be_emitted(name: str, reference_kernel, tmp_path) -> None:
    # (erf was on the whitelist once while the NumPy printer wrote it as math.erf: emit raised InternalError.)
    text = f"{name}(x)" if FUNCTIONS[name][0] == 1 else f"{name}(x, x/2)"
    derivation = symbp.derive(hidden=2, sigma=text, inputs=2)
    path = emit(derivation, tmp_path)
    check_standalone(path.read_text(encoding="utf-8"), reference_kernel[2])
    assert module_names(load_kernel(path)) == module_names(reference_kernel[3])


# --- 3. hostile text mixed with accepted syntax ----------------------------------------------------

#: Comments: Python's parser would drop them silently, so the whitelist refuses '#' itself.
COMMENTED = ["x  # comment", "x#", "tanh(x) # '''", 'x # """; __import__("os").system("true")']

HOSTILE = [
    *COMMENTED,
    'x + 1 """',
    '"""x"""',
    "'x'",
    'x + "1"',
    "x\nimport os",
    "x\r\nimport os",
    "x\n#",
    'x\n"""\nimport os\n"""',
    "x;import os",
    "x; __import__('os').system('true')",
    "__import__('os')",
    "x + __import__('os').getpid()",
    "x.__class__",
    "exp(x).__class__.__mro__",
    "x\\\n+ 1",
    "x \\",
    "x\t+ 1",
    "x\x00",
    "ｘ + 1",  # full-width x: Python would normalise it to x
    "x + ¹",
    'f"{x}"',
    'b"x"',
    "x if x else 1",
    "[x][0]",
    "lambda: x",
    "(x, 1)",
    "x == 1",
    "x + True",
    "x + None",
    "exp(x=x)",
    "sigmoid(x)) + ((x",
    'sigmoid(x) + """ + x + """',
    "x*1e400",
    "open('/etc/passwd')",
    "globals()",
    "eval('x')",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{n}" for n in range(len(HOSTILE))])
def test_hostile_text_never_reaches_a_kernel(text: str, tmp_path) -> None:
    for role in ("sigma", "g"):
        with pytest.raises(ExpressionError) as info:
            parse(text, role=role)
        assert one_line(str(info.value)), str(info.value)
        with pytest.raises(ExpressionError):
            symbp.derive(hidden=2, inputs=2, **{role: text})
        # The command line refuses it with one line and exit status 2, and writes nothing.
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(["emit", f"--{role}={text}", "--hidden", "2", "--out", str(tmp_path / "out")])
        assert status == 2
        assert one_line(stderr.getvalue().rstrip("\n")), stderr.getvalue()
        assert list(tmp_path.iterdir()) == []


def test_hostile_corpus_mixes_accepted_syntax() -> None:
    # Most entries start from an expression the parser accepts, so the refusal is about the addition.
    accepted = ("x", "tanh(x)", "x + 1", "sigmoid(x)", "exp(x)")
    for text in accepted:
        parse(text)
    texts = [entry.values[0] if hasattr(entry, "values") else entry for entry in HOSTILE]
    assert sum(any(text.startswith(a) for a in accepted) for text in texts) >= 15


def test_comment_text_does_not_reach_the_kernel_or_the_latex(tmp_path) -> None:
    text = 'x # """; __import__("os").system("true")'
    try:
        derivation = symbp.derive(hidden=2, sigma=text, g="identity", inputs=2)
    except ExpressionError:
        return  # refused: nothing can reach anything
    source = emit(derivation, tmp_path).read_text(encoding="utf-8")
    assert "__import__" not in source
    assert "__import__" not in derivation.document()
