"""stockbot's modules import each other without a circle, lazy (function-level) and
TYPE_CHECKING imports included: the layers stay layers (ground modules, adapters, the trading
core, strategies, the daemon, the CLI)."""

from __future__ import annotations

from importgraph import cycles, import_graph


def test_no_import_circle_anywhere_in_stockbot():
    assert cycles(import_graph()) == []


def test_the_core_does_not_import_strategies_daemon_or_cli():
    graph = import_graph()
    core = [m for m in graph if m.startswith(("stockbot.trading.", "stockbot.risk.", "stockbot.options."))]
    upward = {(m, t) for m in core for t in graph[m]
              if t.startswith(("stockbot.strategies.", "stockbot.daemon.", "stockbot.cli"))}
    assert upward == set()


def test_strategies_are_peers_that_never_import_each_other_or_the_daemon():
    """(A strategy's own subcommands, ``<strategy>.cli``, sit on top with the CLI: they may compose.)"""
    graph = import_graph()
    for name, other in (("condor", "equity"), ("equity", "condor")):
        mine = [m for m in graph if m.startswith(f"stockbot.strategies.{name}.") and not m.endswith(".cli")]
        crossing = {(m, t) for m in mine for t in graph[m]
                    if t.startswith((f"stockbot.strategies.{other}.", "stockbot.daemon."))}
        assert crossing == set(), name
