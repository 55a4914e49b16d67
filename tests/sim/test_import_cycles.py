"""The sim's modules form no import cycle (issue #15: the seven-file knot around ``app.py``).

Every ``import``/``from ... import`` inside ``stockbot/sim`` counts, also those inside functions and
under ``TYPE_CHECKING``: a lazy import hides a circle from Python's loader, not from the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import stockbot.sim

SIM_DIR = Path(stockbot.sim.__file__).parent
PACKAGE = "stockbot.sim"


def _module_name(path: Path) -> str:
    return f"{PACKAGE}.{path.stem}" if path.stem != "__init__" else PACKAGE


def _imports(path: Path, known: set[str]) -> set[str]:
    """The sim modules that ``path`` imports anywhere in its text."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from stockbot.sim import admin` names the module admin, not the package
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def sim_import_graph() -> nx.DiGraph:
    """Directed graph: module -> sim module it imports."""
    files = sorted(SIM_DIR.glob("*.py"))
    known = {_module_name(f) for f in files}
    graph = nx.DiGraph()
    for f in files:
        name = _module_name(f)
        graph.add_node(name)
        for target in _imports(f, known) - {name, PACKAGE}:
            graph.add_edge(name, target)
    return graph


def test_the_graph_sees_the_sims_imports():
    graph = sim_import_graph()
    assert graph.has_edge("stockbot.sim.market", "stockbot.sim.market_options")
    assert graph.has_edge("stockbot.sim.app", "stockbot.sim.trading_routes")


def test_no_import_cycle_in_the_sim():
    cycles = list(nx.simple_cycles(sim_import_graph()))
    assert cycles == []


def test_no_route_module_imports_the_app():
    graph = sim_import_graph()
    importers = sorted(graph.predecessors("stockbot.sim.app"))
    assert importers == ["stockbot.sim.__main__"]
