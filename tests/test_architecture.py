"""The shape of the code base, checked from its source: import graph, public APIs, file sizes, version.

Every module under runtime/, train/, export/, serve/ and web/ is parsed with `ast`; every import
counts, the deferred ones inside functions and `if TYPE_CHECKING:` blocks included, because a cycle
through a function-level import is still a cycle a newcomer trips on. An import names the most
specific facegan module it reaches (`from facegan.runtime import images` is an edge to
facegan.runtime.images; `from . import __version__` one to the package itself).

The rules (README "Development"):
- no import cycle between modules, anywhere;
- facegan.runtime is the base: it imports only the standard library, its own modules and the base
  install's dependencies (numpy, onnxruntime, pillow, typer); never torch, train or export;
- facegan.train never imports facegan.export;
- facegan.export uses only train's public model and checkpoint API (ALLOWED_FROM_TRAIN);
- facegan.web (the page's files) is a leaf: the standard library only;
- facegan.serve builds on the runtime and web only, plus its extra (SERVE_THIRD_PARTY): never
  torch, train or export.

tests/test_runtime_isolation.py proves the runtime part at run time too (torch blocked, a fresh
base-only venv). A failure here prints every offending edge with its file and line, or the cycle.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "runtime": "facegan.runtime", "train": "facegan.train", "export": "facegan.export",
    "serve": "facegan.serve", "web": "facegan.web",
}
# The third-party imports the runtime may use: the base install's dependencies (pyproject), by
# import name. Anything else (torch, onnx, matplotlib, ...) belongs to an extra.
RUNTIME_THIRD_PARTY = {"numpy", "onnxruntime", "PIL", "typer"}
# What the service may use besides facegan.runtime and facegan.web: the base install's dependencies
# and the `serve` extra (fastapi, which brings starlette and pydantic; uvicorn).
SERVE_THIRD_PARTY = {"numpy", "PIL", "typer", "fastapi", "starlette", "uvicorn"}
SERVE_MAY_IMPORT = ("facegan.runtime", "facegan.web", "facegan.serve")
# train's public model and checkpoint API: all export may import from facegan.train.
# rundir: where a run keeps what export ships beside the weights (directions.json)
ALLOWED_FROM_TRAIN = ("facegan.train.models", "facegan.train.checkpoint", "facegan.train.config", "facegan.train.rundir")
MAX_LINES = 300


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, e.g. facegan.export.onnx
    target: str  # imported module: a facegan module, or the top-level name of any other
    where: str  # file:line of the import statement

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}  ({self.where})"


def module_files() -> dict[str, Path]:
    """Every facegan module name -> its file (packages by their __init__.py), nested packages too."""
    modules = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "node_modules" in path.parts:  # web/'s npm dependencies are not facegan modules
                continue
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = module_files()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str) -> str:
    """The most specific facegan module `name` lies in, or the top-level name of a foreign one."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return parts[0] if parts[0] != "facegan" else name


def _imported_names(node: ast.AST, module: str) -> list[str]:
    """Fully qualified names an import node (or an importlib.import_module("...") call) reaches."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: from the package of `module`
            base = module if _is_package(module) else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            origin = f"{base}.{node.module}" if node.module else base
        else:
            origin = node.module
        # `from pkg import name` reaches pkg.name when that is a module, else pkg itself.
        return [f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin for a in node.names]
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def import_edges() -> list[Edge]:
    edges = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported_names(node, module):
                target = _resolve(name)
                if target != module:
                    edges.append(Edge(module, target, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return sorted(set(edges), key=lambda e: (e.source, e.target, e.where))


EDGES = import_edges()


def _package(module: str) -> str | None:
    return next((p for p in PACKAGES.values() if module == p or module.startswith(p + ".")), None)


def _fail_with(title: str, lines: list[str], count: int | None = None) -> None:
    if lines:
        count = len(lines) if count is None else count
        pytest.fail(f"{title} ({count}):\n  " + "\n  ".join(lines), pytrace=False)


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """A shortest cycle a -> ... -> a through each strongly connected component (Tarjan) of the graph.

    A component holds every module on some cycle with the others; one cycle per component is shown
    (the others break with it or share its modules), then the component's other edges.
    """
    graph: dict[str, list[str]] = {}
    for e in edges:
        if e.target in MODULES:
            graph.setdefault(e.source, []).append(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (~60)
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(set(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:  # a shortest way back to the start, inside the component
        start = min(component)
        paths, seen = [[start]], {start}
        while paths:
            path = paths.pop(0)
            nexts = sorted(w for w in graph.get(path[-1], []) if w in component)
            if start in nexts:
                cycles.append(path + [start])
                break
            for w in nexts:
                if w not in seen:
                    seen.add(w)
                    paths.append(path + [w])
    return cycles


def _component_of(module: str) -> set[str]:
    """The modules reachable from `module` that also reach it back."""
    def reach(start: str, forward: bool) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            v = todo.pop()
            for e in EDGES:
                a, b = (e.source, e.target) if forward else (e.target, e.source)
                if a == v and b in MODULES and b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    return reach(module, True) & reach(module, False)


def _where(source: str, target: str) -> str:
    return ", ".join(e.where for e in EDGES if e.source == source and e.target == target)


# ---------------------------------------------------------------------------------------------
# The import graph


def test_the_parser_sees_every_kind_of_import():
    """The graph is only as good as its parser: deferred, relative and importlib imports count."""
    def targets(source: str, module: str) -> list[str]:
        return sorted({_resolve(n) for node in ast.walk(ast.parse(source)) for n in _imported_names(node, module)})

    source = (
        "import torch.nn\n"
        "from . import images\n"
        "from .errors import UsageError\n"
        "from .. import runtime\n"
        "def later():\n"
        "    from facegan.train.checkpoint import load_checkpoint\n"
        "    return importlib.import_module('facegan.export.onnx')\n"
    )
    assert targets(source, "facegan.runtime.cli") == [
        "facegan.export.onnx", "facegan.runtime", "facegan.runtime.errors", "facegan.runtime.images",
        "facegan.train.checkpoint", "torch",
    ]
    assert targets("from . import __version__\n", "facegan.runtime") == ["facegan.runtime"]  # a package's own
    assert find_cycles([Edge("facegan.runtime.cli", "facegan.runtime.images", "a"),
                        Edge("facegan.runtime.images", "facegan.runtime.cli", "b")]) == [
        ["facegan.runtime.cli", "facegan.runtime.images", "facegan.runtime.cli"]
    ]


def test_no_import_cycles():
    lines, cycles = [], find_cycles(EDGES)
    for cycle in cycles:
        lines.append(" -> ".join(cycle))
        lines += [f"    {a} -> {b}  ({_where(a, b)})" for a, b in zip(cycle, cycle[1:])]
        component = _component_of(cycle[0])
        others = [e for e in EDGES if e.source in component and e.target in component
                  and (e.source, e.target) not in set(zip(cycle, cycle[1:]))]
        lines += [f"    also inside this tangle: {e}" for e in others]
    _fail_with("import cycles, deferred imports included", lines, count=len(cycles))


def test_the_runtime_imports_only_itself_the_stdlib_and_the_base_install():
    wrong = [
        str(e) for e in EDGES
        if _package(e.source) == "facegan.runtime"
        and _package(e.target) != "facegan.runtime"
        and e.target not in sys.stdlib_module_names
        and e.target not in RUNTIME_THIRD_PARTY
    ]
    _fail_with("imports of the runtime outside the base install (torch, train, export, extras)", wrong)


def test_train_never_imports_export():
    _fail_with("train -> export imports",
               [str(e) for e in EDGES if _package(e.source) == "facegan.train" and _package(e.target) == "facegan.export"])


def test_export_uses_only_trains_public_model_and_checkpoint_api():
    wrong = [
        str(e) for e in EDGES
        if _package(e.source) == "facegan.export"
        and _package(e.target) == "facegan.train"
        and not any(e.target == a or e.target.startswith(a + ".") for a in ALLOWED_FROM_TRAIN)
    ]
    _fail_with(f"export -> train imports outside {', '.join(ALLOWED_FROM_TRAIN)}", wrong)


def test_web_is_a_leaf_of_the_standard_library():
    wrong = [str(e) for e in EDGES if _package(e.source) == "facegan.web"
             and _package(e.target) != "facegan.web" and e.target not in sys.stdlib_module_names]
    _fail_with("imports of facegan.web beyond the standard library", wrong)


def test_serve_builds_on_the_runtime_and_web_only():
    wrong = [
        str(e) for e in EDGES
        if _package(e.source) == "facegan.serve"
        and _package(e.target) not in SERVE_MAY_IMPORT
        and e.target not in sys.stdlib_module_names
        and e.target not in SERVE_THIRD_PARTY
    ]
    _fail_with("imports of facegan.serve outside the runtime, web and its extra (torch, train, export, ...)", wrong)


# ---------------------------------------------------------------------------------------------
# Public APIs, file sizes, the version


@pytest.mark.parametrize("package", PACKAGES.values())
def test_each_package_declares_its_public_api(package):
    if package in ("facegan.train", "facegan.export"):
        pytest.importorskip("torch")
    if package == "facegan.serve":
        pytest.importorskip("fastapi")
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert isinstance(names, (list, tuple)) and names, f"{package} declares no __all__"
    assert all(isinstance(n, str) for n in names) and len(set(names)) == len(names), names
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"


def test_no_file_over_300_lines():
    sizes = {path: len(path.read_text().splitlines()) for path in MODULES.values()}
    _fail_with(f"files over {MAX_LINES} lines",
               [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sorted(sizes.items()) if n > MAX_LINES])


def test_the_version_is_declared_once_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # 3.10: the one line `version = "..."` of [project]
        declared = re.search(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S).group(1)
    else:
        declared = tomllib.loads(text)["project"]["version"]
    import facegan.runtime

    assert facegan.runtime.__version__ == importlib.metadata.version("facegan") == declared
    literal = re.compile(rf"""["']{re.escape(declared)}["']|__version__\s*=\s*["']""")
    sources = [*MODULES.values(), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tests").glob("*.py")]
    hard_coded = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in sources if path != Path(__file__)
        for i, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)
    ]
    _fail_with(f"version {declared!r} hard-coded outside pyproject.toml", hard_coded)
