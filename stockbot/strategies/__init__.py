"""The strategy registry: ``STRATEGY`` -> the package that builds it.

Adding a strategy = one package under ``strategies/`` with ``build(services) -> Strategy`` and
``bounds(settings) -> ParamBounds``, plus one line here. Nothing else asks which strategy runs.
A strategy's package is imported only when an account runs it (the equity screener pulls in
scikit-learn; a condor daemon never loads it).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockbot.config import Settings
    from stockbot.consensus.schema import ParamBounds
    from stockbot.trading.port import Strategy
    from stockbot.trading.services import StrategyServices

REGISTRY: dict[str, str] = {
    "condor": "stockbot.strategies.condor.service",
    "equity": "stockbot.strategies.equity.services",
    "index": "stockbot.strategies.equity.services",
}


def module_for(name: str) -> ModuleType:
    """The package module of strategy ``name``; KeyError names the known ones."""
    try:
        return importlib.import_module(REGISTRY[name])
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def bounds_for(settings: Settings) -> ParamBounds:
    """The parameter bounds agents vote within, for this account's strategy."""
    bounds: ParamBounds = module_for(settings.strategy).bounds(settings)
    return bounds


def build_strategy(services: StrategyServices) -> Strategy:
    """The account's strategy, built from the composition root's collaborators."""
    strategy: Strategy = module_for(services.settings.strategy).build(services)
    return strategy
