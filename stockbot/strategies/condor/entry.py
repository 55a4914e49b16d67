"""Opening an iron condor: ONE mleg limit order for all four legs, walked from mid to natural.

The ladder (``price_ladder``) starts at the mid credit and gives up a bounded number of steps
toward the natural credit, never below the minimum credit the strategy accepts. Every rung is its
own order with its own client_order_id (``<account>-<decision>-condor_open-<rung>``). Each rung is
priced from the four legs' quotes read right before it is sent (a rung rests up to
``CONDOR_FILL_TIMEOUT_S``, longer than ``RISK_MAX_QUOTE_AGE_S``: pricing the fifth rung from the
decision's snapshot would trade on minute-old quotes, and the freshness rule would deny it), with
the spreads and the credit floor re-checked on those quotes, and gated by the risk gate with a
fresh RiskContext (fire counters and quote age move while the ladder walks). A fill is recorded as the trade; nothing here ever sends a single option leg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Mapping

from stockbot.broker.errors import BrokerError
from stockbot.trading.executor import make_client_order_id
from stockbot.config import CondorSettings
from stockbot.domain import OptionQuote, OrderIntent, OrderPurpose, TradeContext
from stockbot.trading.deps import EngineDeps
from stockbot.trading.ladder import LADDER_END, LadderEnd, LadderResult, OrderLadder
from stockbot.strategies.condor.snapshot import CondorSnapshot
from stockbot.strategies.condor.trades import net_price, record_open
from stockbot.options.condor import CENT, CONTRACT_MULTIPLIER, IronCondor, condor_intent, quote_problem
from stockbot.options.condor_manage import price_ladder
from stockbot.options.ivrank import IVRank
from stockbot.risk.gate import Approved, Denied

PURPOSE = OrderPurpose.CONDOR_OPEN


@dataclass(frozen=True, slots=True)
class EntryResult:
    """How the entry ended; ``condor`` carries the fill credit when it filled."""

    ladder: LadderResult
    qty: int
    condor: IronCondor | None = None

    @property
    def filled(self) -> bool:
        return self.condor is not None


def entry_prices(condor: IronCondor, deps: EngineDeps) -> list[Decimal]:
    """The rungs (mleg sign: negative = credit) from the mid toward the natural credit."""
    c = deps.settings.condor
    return price_ladder(condor.credit_mid, condor.credit_natural, c.price_step, c.max_price_steps,
                        min_credit=min_credit_of(condor, c))


def min_credit_of(condor: IronCondor, c: CondorSettings) -> Decimal:
    return (condor.width * Decimal(repr(c.min_credit_pct))).quantize(CENT)


@dataclass(frozen=True, slots=True)
class RungQuote:
    """The four legs' quotes right before a rung: mid and natural credit, and the oldest stamp."""

    credit_mid: Decimal
    credit_natural: Decimal
    oldest: datetime


def rung_quote(condor: IronCondor, quotes: Mapping[str, OptionQuote], c: CondorSettings) -> RungQuote | Denied:
    """Price ``condor`` from fresh leg quotes, re-checking what the builder checked on the snapshot:
    every leg two-sided, uncrossed and within ``max_spread_pct``, and a credit below the width."""
    legs = [quotes.get(s) for s in condor.symbols]
    missing = [s for s, q in zip(condor.symbols, legs) if q is None]
    if missing:
        return Denied(f"no fresh quote for {', '.join(missing)}", "rung_quotes")
    for q in legs:
        problem = quote_problem(q, c.max_spread_pct)  # type: ignore[arg-type]
        if problem is not None:
            return Denied(f"{problem.code}: {problem.reason}", "rung_quotes")
    sc, lc, sp, lp = legs  # short call, long call, short put, long put
    mid = (sc.mid + sp.mid - lc.mid - lp.mid).quantize(CENT, rounding=ROUND_FLOOR)  # type: ignore[union-attr]
    natural = sc.bid + sp.bid - lc.ask - lp.ask  # type: ignore[union-attr]
    if mid >= condor.width:
        return Denied(f"credit {mid} >= width {condor.width}: quotes are not arbitrage-free", "rung_quotes")
    return RungQuote(mid, natural, min(q.ts for q in legs))  # type: ignore[union-attr]


def order_risk(condor: IronCondor, limit_price: Decimal, qty: int) -> Decimal:
    """Max loss in $ of opening ``qty`` condors at ``limit_price`` (a credit, so negative)."""
    credit = -limit_price
    return ((condor.width - credit) * CONTRACT_MULTIPLIER * qty).quantize(CENT)


class CondorEntry:
    """Enters one sized condor for one decision."""

    def __init__(self, deps: EngineDeps, ladder: OrderLadder):
        self.deps = deps
        self.ladder = ladder

    async def enter(self, condor: IronCondor, qty: int, decision_id: str, snap: CondorSnapshot,
                    rank: IVRank) -> EntryResult:
        """Walk the entry ladder; on a fill record the trade (structure id = decision id).

        ``EntryResult.ladder.status`` is the ladder's, or ``no_price`` when no rung reaches the
        minimum credit."""
        d, c = self.deps, self.deps.settings.condor
        if not entry_prices(condor, d):
            return EntryResult(LadderResult("no_price", ()), qty)
        floor = min_credit_of(condor, c)
        priced: dict[str, datetime | None] = {"oldest": None}

        async def price_at(rung: int) -> Decimal | Denied | LadderEnd:
            """Rung ``rung`` = ``rung`` steps from the mid of quotes read now, never past their
            natural, never below the credit floor (the walk ends when the natural is reached)."""
            try:
                quotes = await d.broker.option_quotes(list(condor.symbols))
            except BrokerError as exc:
                return Denied(f"leg quotes unavailable: {exc}", "rung_quotes")
            fresh = rung_quote(condor, quotes, c)
            if isinstance(fresh, Denied):
                return fresh
            rungs = price_ladder(fresh.credit_mid, fresh.credit_natural, c.price_step, c.max_price_steps,
                                 min_credit=floor)
            if not rungs:
                return Denied(f"credit {fresh.credit_mid} on fresh quotes is below the floor {floor}", "credit_floor")
            if rung >= len(rungs):
                return LADDER_END
            priced["oldest"] = fresh.oldest
            return rungs[rung]

        def make(rung: int, price: Decimal | None) -> OrderIntent:
            cid = make_client_order_id(d.account, decision_id, PURPOSE, rung)
            return condor_intent(condor, qty, price, cid, decision_id=decision_id)

        async def check(intent: OrderIntent) -> Approved | Denied:
            now = d.now()
            oldest = priced["oldest"]
            age = None if oldest is None else snap.age_s(oldest, now)  # unknown age denies (fail closed)
            trade = TradeContext(d.account, "condor", condor.underlying, snap.market_now(now),
                                 order_type="mleg limit", iv_rank=rank.value, quote_age_s=age,
                                 extra={"decision_id": decision_id, "rung_price": str(intent.limit_price)})
            ctx = d.risk_context(snap.account, market_open=snap.clock.is_open, open_positions=snap.open_positions(),
                                 trade=trade, risk=order_risk(condor, intent.limit_price or Decimal(0), qty),
                                 quote_age_s=age)
            return await d.check(intent, ctx)

        result = await self.ladder.walk(price_at, make, check, rungs=c.max_price_steps + 1)
        if not result.filled:
            return EntryResult(result, qty)
        order = result.order
        assert order is not None
        price = net_price(order)
        if price is None or price >= 0:
            # The broker did not report a usable net price: book the rung's limit, the worst
            # credit the order could have filled at (a limit fills at that price or better).
            price = result.attempts[-1].limit_price or Decimal(0)
        filled = record_open(d.store, structure_id=decision_id, condor=condor, qty=order.filled_qty,
                             credit=-price, client_order_id=order.client_order_id, opened=d.now(),
                             decision_id=decision_id, rungs=len(result.attempts), credit_natural=condor.credit_natural)
        return EntryResult(result, int(order.filled_qty), filled)
