"""The package's layout rules, checked on its source: no import cycles, and each folder imports
only the layers below it (docs/architecture.md).

Imports inside functions count (a lazy import is still a dependency); imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "langgraph_specsearch"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
ALIASES = {  # deprecated paths, each only an alias of its new module
    "transformers_backend", "hf_scorers", "prm_head", "model_assets", "demo_models",
    "tree_render", "judge_scorer",
}  # fmt: skip

# What each part may import from the package (besides itself). Top-level modules are named
# by their stem, folders by their name.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "search": {"config"},
    "generators": {"config"},
    "scorers": {"generators"},
    "graph": {"config", "search", "generators", "scorers", "inputs"},
    "runnable": {"config", "graph", "scorers", "search", "inputs"},
    "inputs": {"config", "graph"},
    "presets": {"config", "generators", "scorers"},
    "testing": {"generators"},
    "bench": {"config", "generators", "presets", "runnable", "scorers", "search", "testing"},
    "studio": {"config", "graph", "presets", "testing"},
    "cli": {"bench", "presets", "runnable", "search"},
    "_deprecated": set(),
    "__init__": {"config", "generators", "graph", "runnable", "scorers", "search"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports at run time (``from a import b`` may name module b)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) - {name} for name, path in paths.items()}


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def part_of(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check below can fail: a planted cycle is found, an acyclic graph passes."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_the_layers_below_it(part: str) -> None:
    graph = import_graph()
    used = {
        part_of(target)
        for module, targets in graph.items()
        if part_of(module) == part
        for target in targets
    } - {part}
    assert used <= ALLOWED[part], f"{part} imports {sorted(used - ALLOWED[part])}"


def test_every_part_is_named_in_the_rules() -> None:
    parts = {part_of(m) for m in import_graph()} - ALIASES
    assert parts <= set(ALLOWED), f"no rule for {sorted(parts - set(ALLOWED))}"


def test_the_search_core_does_not_need_langgraph_langchain_or_torch() -> None:
    """search/ is the algorithm alone: a second search algorithm plugs in without LangGraph."""
    for path in (ROOT / "search").glob("*.py"):
        for node in _runtime_nodes(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top not in {"langgraph", "langchain_core", "torch", "transformers"}, path


def test_no_module_finds_files_through_the_repository() -> None:
    """Shipped data is read with importlib.resources; a wheel has no repository around it."""
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        assert ".parents[" not in text, path
        assert "shared/data" not in text and '"shared"' not in text, path
