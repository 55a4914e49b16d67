"""Supermajority and parameter aggregation: pure functions over votes (table-tested).

The denominator is always the number of *configured* agents: a failed, missing or abstaining agent
counts against entering. Parameters come from the agreeing (ENTER) agents only: the median of each
number, then clamped to the account's bounds. Equity slates: a (symbol, side) pair is kept only if
at least the threshold of ALL agents proposes it, and only symbols of the allowed universe count.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stockbot.consensus.schema import CondorProposal, EquityParams, ParamBounds, Vote
from stockbot.domain import Action

_EPS = 1e-9


def required_votes(n_agents: int, threshold: float) -> int:
    """ENTER votes needed out of ``n_agents`` for ``threshold`` (2/3 of 3 -> 2, of 4 -> 3, of 5 -> 4)."""
    if n_agents <= 0:
        raise ValueError("n_agents must be positive")
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    # The epsilon keeps 2/3 * 3 = 2.0000000000000004-style float noise from demanding a third vote.
    return max(1, math.ceil(threshold * n_agents - _EPS))


@dataclass(frozen=True, slots=True)
class Tally:
    """The pure outcome of counting: action, aggregated parameters, and why."""

    action: Action
    params: dict[str, Any]
    enter_votes: int
    required: int
    n_agents: int
    reason: str
    confidence: float | None = None
    dropped: tuple[str, ...] = field(default_factory=tuple)


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def _proposal(vote: Vote) -> CondorProposal:
    if vote.condor is None:  # tally() passes only ENTER votes that carry condor parameters
        raise ValueError("a vote without condor parameters cannot be aggregated")
    return vote.condor


def _slate(vote: Vote) -> EquityParams:
    if vote.equity is None:  # tally() passes only ENTER votes that carry a slate
        raise ValueError("a vote without an equity slate cannot be aggregated")
    return vote.equity


def condor_params(votes: Sequence[Vote], bounds: ParamBounds) -> dict[str, Any]:
    """Median of each condor parameter over ``votes`` (all ENTER with condor params), clamped."""
    props = [_proposal(v) for v in votes]
    delta = _clamp(statistics.median(p.short_delta for p in props), *bounds.delta)
    width = _clamp(statistics.median(p.wing_width for p in props), *bounds.width)
    dte = statistics.median(p.dte for p in props)
    # Round half up (not banker's rounding) so that 30 and 31 give 31 deterministically.
    dte_i = int(_clamp(math.floor(dte + 0.5), *bounds.dte))
    return {"short_delta": round(delta, 4), "wing_width": Decimal(str(round(width, 2))), "dte": dte_i}


def equity_slate(votes: Sequence[Vote], required: int, bounds: ParamBounds,
                 allowed: frozenset[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Pairs proposed by >= ``required`` agents (median weight); also the dropped picks and why."""
    dropped: list[str] = []
    weights: dict[tuple[str, str], list[float]] = {}
    for v in votes:
        for pick in _slate(v).slate:
            if pick.symbol not in allowed:
                dropped.append(f"{pick.symbol}: not in the allowed universe")
                continue
            weights.setdefault((pick.symbol, pick.side), []).append(pick.weight)
    kept: list[dict[str, Any]] = []
    for (symbol, side), ws in weights.items():
        if len(ws) >= required:
            kept.append({"symbol": symbol, "side": side, "weight": round(_clamp(statistics.median(ws), 0, 1), 6),
                         "_n": len(ws)})
        else:
            dropped.append(f"{symbol} {side}: {len(ws)} of {required} needed")
    kept.sort(key=lambda p: (-p["_n"], -p["weight"], p["symbol"]))
    for p in kept[bounds.max_slate:]:
        dropped.append(f"{p['symbol']} {p['side']}: beyond the slate limit {bounds.max_slate}")
    slate = [{k: v for k, v in p.items() if k != "_n"} for p in kept[: bounds.max_slate]]
    return slate, sorted(set(dropped))


def tally(votes: Sequence[Vote | None], *, n_agents: int, threshold: float, strategy: str,
          bounds: ParamBounds, allowed_symbols: Iterable[str] = ()) -> Tally:
    """Count votes (None = failed/missing agent) and aggregate parameters; never raises on votes.

    ``n_agents`` is the number of configured agents; fewer votes than that means the rest failed.
    """
    if len(votes) > n_agents:
        raise ValueError(f"{len(votes)} votes for {n_agents} agents")
    need = required_votes(n_agents, threshold)
    is_condor = strategy == "condor"
    enter = [v for v in votes if v is not None and v.action == "ENTER"
             and (v.condor is not None if is_condor else v.equity is not None)]
    k = len(enter)
    conf = round(statistics.median(v.confidence for v in enter), 4) if enter else None
    counted = f"{k}/{n_agents} ENTER, {need} needed"
    if k < need:
        return Tally(Action.HOLD, {}, k, need, n_agents, f"no supermajority: {counted}", conf)
    if is_condor:
        return Tally(Action.ENTER, condor_params(enter, bounds), k, need, n_agents, f"supermajority: {counted}", conf)
    slate, dropped = equity_slate(enter, need, bounds, frozenset(allowed_symbols))
    if not slate:
        return Tally(Action.HOLD, {}, k, need, n_agents,
                     f"no symbol reached the supermajority ({counted})", conf, tuple(dropped))
    return Tally(Action.ENTER, {"slate": slate}, k, need, n_agents, f"supermajority: {counted}", conf, tuple(dropped))
