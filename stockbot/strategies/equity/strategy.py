"""The long/short slate, its sizing and the rebalance plan: pure functions, table-tested.

1. ``propose_slate``: long the top K of the screener's ranking (score > 0), short the bottom K
   (score < 0) when the profile and the broker account both allow shorts.
2. The agents vote on that slate; only (symbol, side) pairs that were proposed *and* reached the
   supermajority survive (``agreed_picks``): agents can veto or reweight picks, never add one.
3. ``target_positions``: gross target = equity x leverage, where leverage is the profile's, capped
   by the gross-exposure cap and by the broker's margin multiplier. Each pick gets its vote weight's
   share of it, capped at ``max_position_pct`` of equity; whole shares (Alpaca cannot short
   fractions), priced at the ask for longs and the bid for shorts.
4. ``rebalance_plan``: against the positions *this strategy opened* (manual positions in the
   account are never touched): close what left the slate or flipped side (``close_position``),
   trim what is more than ``tolerance`` above target, add what is more than ``tolerance`` below,
   open what is new. Closes run before opens so they free buying power first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Iterable, Literal, Mapping, Sequence

from stockbot.domain import Position, Quote
from stockbot.strategies.equity.profiles import ProfileParams
from stockbot.strategies.equity.screener import Ranked

SideName = Literal["long", "short"]
DEFAULT_TOLERANCE = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A proposed pick (what the agents are asked about)."""

    symbol: str
    side: SideName
    score: float
    rank: int  # 1 = best long; for shorts 1 = worst of the universe


@dataclass(frozen=True, slots=True)
class Target:
    """The position one agreed pick should be: signed whole shares at the sizing price."""

    symbol: str
    side: SideName
    qty: Decimal  # signed: short < 0
    price: Decimal
    weight: float

    @property
    def notional(self) -> Decimal:
        return abs(self.qty) * self.price


@dataclass(frozen=True, slots=True)
class CloseAction:
    symbol: str
    qty: Decimal  # absolute shares to close
    full: bool
    reason: str


@dataclass(frozen=True, slots=True)
class OpenAction:
    symbol: str
    side: SideName
    qty: Decimal  # absolute shares to buy (long) or sell short
    price: Decimal
    reason: str

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    closes: tuple[CloseAction, ...] = ()
    opens: tuple[OpenAction, ...] = ()
    keeps: tuple[str, ...] = ()
    untouched: tuple[str, ...] = ()  # positions this strategy did not open (manual, other)

    @property
    def empty(self) -> bool:
        return not (self.closes or self.opens)


def propose_slate(ranked: Sequence[Ranked], params: ProfileParams, shorting_allowed: bool) -> list[Candidate]:
    """Top K longs with a positive score, then bottom K shorts with a negative score (if allowed)."""
    longs = [r for r in ranked if r.score > 0][: params.top_k]
    out = [Candidate(r.symbol, "long", r.score, i + 1) for i, r in enumerate(longs)]
    if params.shorting and shorting_allowed:
        taken = {c.symbol for c in out}
        worst = [r for r in reversed(ranked) if r.score < 0 and r.symbol not in taken][: params.top_k]
        out += [Candidate(r.symbol, "short", r.score, i + 1) for i, r in enumerate(worst)]
    return out[: params.max_slate]


def agreed_picks(slate: Iterable[Mapping[str, Any]], proposed: Sequence[Candidate]) -> list[tuple[Candidate, float]]:
    """(candidate, weight) for every consensus pick that matches a proposed (symbol, side)."""
    # Keyed by objects: a pick's symbol and side come from the agents' JSON, unchecked here.
    by_key: dict[tuple[object, object], Candidate] = {(c.symbol, c.side): c for c in proposed}
    out = []
    for pick in slate:
        cand = by_key.get((pick.get("symbol"), pick.get("side")))
        if cand is not None:
            out.append((cand, float(pick.get("weight") or 0.0)))
    return out


def _whole(x: Decimal) -> Decimal:
    return x.to_integral_value(rounding=ROUND_FLOOR)


def target_positions(picks: Sequence[tuple[Candidate, float]], *, equity: Decimal, multiplier: Decimal,
                     params: ProfileParams, quotes: Mapping[str, Quote]) -> dict[str, Target]:
    """Signed whole-share targets for the agreed picks (picks without a usable quote are skipped)."""
    if equity <= 0 or not picks:
        return {}
    gross = equity * params.effective_leverage(multiplier)
    cap = equity * Decimal(repr(params.max_position_pct))
    weights = [max(0.0, w) for _, w in picks]
    total = sum(weights)
    shares = [w / total for w in weights] if total > 0 else [1 / len(picks)] * len(picks)
    out: dict[str, Target] = {}
    for (cand, _), share in zip(picks, shares):
        q = quotes.get(cand.symbol)
        price = (q.ask if cand.side == "long" else q.bid) if q is not None else Decimal(0)
        if price <= 0:
            continue
        notional = min(gross * Decimal(repr(share)), cap)
        qty = _whole(notional / price)
        if qty > 0:
            out[cand.symbol] = Target(cand.symbol, cand.side, qty if cand.side == "long" else -qty, price,
                                      round(share, 6))
    return out


def rebalance_plan(positions: Sequence[Position], targets: Mapping[str, Target], ours: Iterable[str], *,
                   tolerance: Decimal = DEFAULT_TOLERANCE) -> RebalancePlan:
    """What to close, trim, add and open so that our positions match ``targets``."""
    ours = set(ours)
    held = {p.symbol: p.qty for p in positions if p.qty != 0}
    closes: list[CloseAction] = []
    opens: list[OpenAction] = []
    keeps: list[str] = []
    untouched = sorted(s for s in held if s not in ours)
    for sym in sorted(s for s in held if s in ours):
        qty, tgt = held[sym], targets.get(sym)
        if tgt is None:
            closes.append(CloseAction(sym, abs(qty), True, "left the slate"))
        elif (qty > 0) != (tgt.qty > 0):
            closes.append(CloseAction(sym, abs(qty), True, f"side flipped to {tgt.side}"))
        elif abs(qty) > abs(tgt.qty) * (1 + tolerance):
            closes.append(CloseAction(sym, abs(qty) - abs(tgt.qty), False, "above target: trim"))
        elif abs(qty) < abs(tgt.qty) * (1 - tolerance):
            opens.append(OpenAction(sym, tgt.side, abs(tgt.qty) - abs(qty), tgt.price, "below target: add"))
        else:
            keeps.append(sym)
    for sym, tgt in targets.items():
        if sym in untouched:
            continue  # never add to, or trade against, a position this strategy does not own
        if sym not in held or (held[sym] > 0) != (tgt.qty > 0):
            opens.append(OpenAction(sym, tgt.side, abs(tgt.qty), tgt.price,
                                    "new pick" if sym not in held else "reopen on the new side"))
    opens.sort(key=lambda o: (o.side != "long", -o.notional, o.symbol))
    return RebalancePlan(tuple(closes), tuple(opens), tuple(keeps), tuple(untouched))
