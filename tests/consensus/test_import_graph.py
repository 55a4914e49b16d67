"""The modules of stockbot/consensus import each other without a circle (function-level imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import stockbot.consensus

PACKAGE = "stockbot.consensus"
ROOT = Path(stockbot.consensus.__file__).parent


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [] if rel.name == "__init__" else list(rel.parts)
    return ".".join([PACKAGE, *parts])


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source (lazy imports included).

    The package itself (``__init__``) is left out as a target: it only re-exports, and every
    submodule would otherwise "import" it through its dotted name.
    """
    modules = {_module_name(p, root): p for p in sorted(root.glob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        base = name if is_pkg else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    anchor = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                    mod = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    mod = node.module or ""
                # "from pkg import sub" imports the submodule "pkg.sub" when there is one
                targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
            for target in targets:
                if target in modules and target != PACKAGE and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first == last), or None when the graph has none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_edges_that_matter():
    g = import_graph()
    # Module-level and function-level imports are both edges (build_agents imports llm lazily).
    assert f"{PACKAGE}.ballot" in g[f"{PACKAGE}.agents"] and f"{PACKAGE}.ballot" in g[f"{PACKAGE}.llm"]
    assert f"{PACKAGE}.llm" in g[f"{PACKAGE}.agents"]
    assert f"{PACKAGE}.litellm_setup" in g[f"{PACKAGE}.structured"]


def test_consensus_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_find_cycle_reports_a_circle():
    # The checker itself: the old agents <-> llm pair, and a longer ring, are found.
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_builder_finds_a_lazy_circle(tmp_path):
    # The graph builder on a tiny package that has the old circle (lazy import in a function).
    pkg = tmp_path / "consensus"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "agents.py").write_text("def build():\n    from stockbot.consensus.llm import LLMAgent\n")
    (pkg / "llm.py").write_text("from stockbot.consensus.agents import Ballot\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle == [f"{PACKAGE}.agents", f"{PACKAGE}.llm", f"{PACKAGE}.agents"]
