"""What the agents see for an equity decision, what gets recorded, and the consensus they vote in.

The agents get the proposed slate as ``candidates`` (symbol, signed score, side), the index ETF's
price action as the market, the account's constraints, and the account's universe as
``allowed_symbols``: the aggregation drops any pick outside it, and the engine then keeps only
picks that were proposed — agents approve, veto or reweight the screener's picks, never add one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from stockbot.config import Settings
from stockbot.consensus.ports import Alerter, ConsensusStore
from stockbot.consensus.context import AccountConstraints, EquityCandidate, LessonRef, MarketContext, price_action
from stockbot.consensus.runner import ConsensusResult, ConsensusRunner
from stockbot.consensus.schema import ParamBounds
from stockbot.domain import AccountSnapshot, Position
from stockbot.strategies.equity.history import PriceHistory
from stockbot.strategies.equity.profiles import ProfileParams, effective_params
from stockbot.strategies.equity.screener import Ranked
from stockbot.strategies.equity.strategy import Candidate
from stockbot.strategies.equity.universes import Universe

if TYPE_CHECKING:  # the lessons' service module loads the embedder stack
    from stockbot.lessons.service import RetrievedLesson

RECENT_CLOSES = 60


@dataclass(frozen=True)
class ScreenResult:
    """A ranked universe on one market date, with the histories and the model it came from."""

    market_date: date
    ranked: list[Ranked]
    histories: Mapping[str, PriceHistory]
    model: Mapping[str, Any]

    def closes(self, symbol: str, n: int = RECENT_CLOSES) -> tuple[float, ...]:
        h = self.histories.get(symbol)
        return tuple(float(x) for x in h.close[-n:]) if h is not None else ()

    def condition(self, etf: str) -> str:
        pa = price_action(self.closes(etf))
        if pa["last"] is None:
            return f"{etf}: no history"
        r20 = "n/a" if pa["ret_20d"] is None else f"{pa['ret_20d']:+.2%}"
        vol = "n/a" if pa["realized_vol_20d"] is None else f"{pa['realized_vol_20d']:.0%}"
        return f"{etf} at {pa['last']:.2f}, 20-day return {r20}, realised vol {vol}"


def bounds_for(settings: Settings, params: ProfileParams | None = None) -> ParamBounds:
    """Consensus bounds whose slate limit fits the profile's long/short slate (2K with shorts)."""
    params = params or effective_params(settings)
    base = ParamBounds.from_settings(settings.condor, settings.equity)
    return ParamBounds(delta=base.delta, width=base.width, dte=base.dte, max_slate=params.max_slate)


def consensus_for(settings: Settings, *, store: ConsensusStore | None = None,
                  alerter: Alerter | None = None) -> ConsensusRunner:
    """The ConsensusRunner of an equity/index account (``from_settings`` with the profile's slate
    size: a slate of 2K picks must not be refused as too long)."""
    return ConsensusRunner.from_settings(settings, store=store, alerter=alerter, bounds=bounds_for(settings))


def equity_context(strategy: Literal["condor", "equity", "index"], universe: Universe, screen: ScreenResult,
                   proposed: Sequence[Candidate], account: AccountSnapshot, positions: Sequence[Position],
                   params: ProfileParams, lessons: Sequence[LessonRef], asof: datetime) -> MarketContext:
    """The MarketContext of one equity decision (every symbol in it is inside the universe)."""
    universe.require([c.symbol for c in proposed], "proposed slate")
    closes = screen.closes(universe.etf)
    spot = closes[-1] if closes else 1.0
    constraints = AccountConstraints(
        max_risk_per_trade=params.risk.max_risk_per_trade, max_open_positions=params.risk.max_open_positions,
        open_positions=sum(1 for p in positions if p.qty != 0), buying_power=float(max(account.buying_power, Decimal(0))),
        shorting_enabled=params.shorting and account.shorting_enabled, max_slate=params.max_slate)
    candidates = tuple(EquityCandidate(symbol=c.symbol, score=round(c.score, 6), side=c.side) for c in proposed)
    text = (f"Screener ({screen.model.get('model', 'model')}, trained to {screen.model.get('cutoff')}) ranked "
            f"{len(screen.ranked)} {universe.name} constituents on {screen.market_date}. "
            f"{screen.condition(universe.etf)}.")
    return MarketContext(strategy=strategy, symbol=universe.etf, spot=spot, asof=asof, recent_closes=closes,
                         constraints=constraints, candidates=candidates,
                         allowed_symbols=tuple(sorted(universe.constituents)), market_text=text,
                         lessons=tuple(lessons))


def record_kwargs(result: ConsensusResult, retrieved: Sequence[RetrievedLesson], version: str, params: ProfileParams,
                  screen: ScreenResult, proposed: Sequence[Candidate]) -> dict[str, Any]:
    """``Store.record_decision`` keyword arguments: the consensus record plus the strategy version
    (in params and context, for cohort queries), the profile, the model and the proposed slate."""
    kwargs = result.record_decision_kwargs()
    if retrieved:
        kwargs["lessons"] = [r.as_record() for r in retrieved]
    kwargs["params"] = {**(kwargs.get("params") or {}), "strategy_version": version}
    kwargs["context"] = {
        **(kwargs.get("context") or {}),
        "strategy_version": version,
        "profile": params.profile,
        "universe": params.universe,
        "market_date": screen.market_date.isoformat(),
        "model": {k: screen.model.get(k) for k in ("cutoff", "trained_at", "feature_schema_version", "sha256")},
        "proposed": [{"symbol": c.symbol, "side": c.side, "score": c.score, "rank": c.rank} for c in proposed],
        "ranked": len(screen.ranked),
    }
    return kwargs
