"""The dependency rule of ARCHITECTURE.md, enforced on the source: layers, no import cycle, no SymPy where training runs.

Every module of symbp is parsed with ``ast`` (nothing is imported) and its imports of
symbp modules are collected: those at module level (which run when it is imported) and
those inside functions (which run when the function is called).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "symbp"

#: The layers, lowest first. A module may import modules of its own package and of lower
#: layers; two packages of one layer never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("symbp.errors",),
    ("symbp.limits", "symbp.files", "symbp.render"),
    ("symbp.spec", "symbp.data"),
    ("symbp.symbolic",),
    ("symbp.latex",),
    ("symbp.kernel", "symbp.checker", "symbp.html"),
    ("symbp.training",),
    ("symbp.cluster",),
    ("symbp.session", "symbp.demo", "symbp.testing"),
    ("symbp.cli", "symbp"),
)

#: Imports against the layers that the rule allows: the public conveniences of a derivation
#: (``Derivation.latex()``, ``.document()``, the notebook's ``_repr_latex_``) print it with the
#: LaTeX stage, importing it when called.
ALLOWED_UPWARD = {
    ("symbp.symbolic.derivation", "Derivation.latex", "symbp.latex.formulas"),
    ("symbp.symbolic.derivation", "Derivation.document", "symbp.latex.document"),
    ("symbp.symbolic.derivation", "Derivation._repr_latex_", "symbp.latex.formulas"),
}

#: Modules that must import without SymPy (``symbp train`` starts without it), with all they import.
SYMPY_FREE = ("symbp", "symbp.cli", "symbp.session", "symbp.kernel.load", "symbp.data", "symbp.training", "symbp.cluster")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported symbp module (a package's __init__ when a name of it is imported)
    where: str  # "" at module level, else the qualified name of the function
    type_only: bool  # under ``if TYPE_CHECKING:``
    line: int


def _resolve(name: str, imported: str | None) -> str:
    """The module ``from name import imported`` (or ``import name``) loads."""
    if imported is not None and f"{name}.{imported}" in MODULES:
        return f"{name}.{imported}"
    return name


def imports_of(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, where: str, lazy: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner, in_function, typed = where, lazy, type_only
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{where}.{child.name}" if where else child.name
                in_function = lazy or not isinstance(child, ast.ClassDef)  # a class body runs at import
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                typed = True
            where_text = where if lazy else ""
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == "symbp" or alias.name.startswith("symbp."):
                        found.append(Import(module, _resolve(alias.name, None), where_text, typed, child.lineno))
            elif isinstance(child, ast.ImportFrom) and child.module and (child.module == "symbp" or child.module.startswith("symbp.")):
                for alias in child.names:
                    found.append(Import(module, _resolve(child.module, alias.name), where_text, typed, child.lineno))
            visit(child, inner, in_function, typed)

    visit(tree, "", False, False)
    return found


def layer_of(module: str) -> tuple[int, str]:
    """(layer number, package) of a module: its longest matching entry of LAYERS."""
    best = None
    for number, entries in enumerate(LAYERS):
        for entry in entries:
            if module == entry or module.startswith(entry + "."):
                if best is None or len(entry) > len(best[1]):
                    best = (number, entry)
    assert best is not None, f"{module} is in no layer of ARCHITECTURE.md's dependency rule: add it"
    return best


ALL_IMPORTS = [imp for module in MODULES for imp in imports_of(module)]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def against_the_layers(imports: list[Import]) -> list[str]:
    """The imports that break the dependency rule, as lines of a message."""
    wrong = []
    for imp in imports:
        (mine, package), (theirs, other) = layer_of(imp.source), layer_of(imp.target)
        if package == other or (package == "symbp" and imp.source != "symbp"):
            continue
        if theirs < mine or (imp.source, imp.where, imp.target) in ALLOWED_UPWARD:
            continue
        wrong.append(f"{imp.source}:{imp.line} ({imp.where or 'module level'}) imports {imp.target}")
    return wrong


def test_imports_follow_the_layers() -> None:
    wrong = against_the_layers(ALL_IMPORTS)
    assert not wrong, "imports against the dependency rule of ARCHITECTURE.md:\n" + "\n".join(wrong)


def test_the_rule_catches_an_upward_import_and_a_sideways_one() -> None:
    upward = Import("symbp.symbolic.expand", "symbp.latex.formulas", "", False, 1)
    lazy_upward = Import("symbp.symbolic.model", "symbp.kernel.emit", "build", False, 2)
    sideways = Import("symbp.kernel.context", "symbp.checker.check", "", False, 3)
    downward = Import("symbp.latex.formulas", "symbp.symbolic.model", "", False, 4)
    allowed = Import("symbp.symbolic.derivation", "symbp.latex.document", "Derivation.document", False, 5)
    assert against_the_layers([upward, lazy_upward, sideways, downward, allowed]) == [
        "symbp.symbolic.expand:1 (module level) imports symbp.latex.formulas",
        "symbp.symbolic.model:2 (build) imports symbp.kernel.emit",
        "symbp.kernel.context:3 (module level) imports symbp.checker.check",
    ]


def test_the_allowed_exceptions_are_still_needed() -> None:
    # An exception that no longer happens is dropped from the list, so the list stays the truth.
    seen = {(imp.source, imp.where, imp.target) for imp in ALL_IMPORTS}
    assert ALLOWED_UPWARD <= seen, sorted(ALLOWED_UPWARD - seen)


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for imp in ALL_IMPORTS:
        if not imp.where and not imp.type_only and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    # Importing a submodule runs its package's __init__ first.
    for module in MODULES:
        parent = module.rpartition(".")[0]
        if parent and parent in MODULES and parent != "symbp":
            graph[module].add(parent)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of ``graph`` meets, as a path that ends where it starts."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target] if target in path else [node, target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_at_module_level() -> None:
    real = [c for c in find_cycles(module_graph()) if not _reexports_within_one_package(c)]
    assert not real, "import cycles:\n" + "\n".join(" -> ".join(c) for c in real)


def _reexports_within_one_package(cycle: list[str]) -> bool:
    """A package's __init__ importing its own submodules (re-exports), which import each other: not a cycle of ours.

    Python registers a package before running its __init__, so a submodule reaches its
    package only as the parent it lives in, which never fails.  A submodule that imports a
    name from its own package's __init__ (an explicit edge back) is a real cycle, and so is
    one that leaves the package.
    """
    package = min(cycle, key=len)
    explicit = {(imp.source, imp.target) for imp in ALL_IMPORTS if not imp.where and not imp.type_only}
    return (
        MODULES[package].name == "__init__.py"
        and all(module.startswith(package + ".") for module in cycle if module != package)
        and not any(b == package and (a, b) in explicit for a, b in zip(cycle, cycle[1:]))
    )


def _imports_sympy_directly(module: str) -> bool:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(n == "sympy" or n.startswith("sympy.") for n in names):
            return True
    return False


@pytest.mark.parametrize("root", SYMPY_FREE)
def test_training_side_never_imports_sympy(root: str) -> None:
    graph = module_graph()
    starts = [m for m in MODULES if m == root or m.startswith(root + ".")] if root != "symbp" else ["symbp"]
    seen, todo = set(), list(starts)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(graph[module])
    offenders = sorted(m for m in seen if _imports_sympy_directly(m))
    assert not offenders, f"{root} imports SymPy at module level through {offenders}"


def test_a_training_process_really_starts_without_sympy() -> None:
    code = (
        "import sys, symbp, symbp.cli, symbp.session, symbp.kernel.load, symbp.data, symbp.training, symbp.cluster\n"
        "print('sympy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
