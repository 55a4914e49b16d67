"""Opening an iron condor: ONE mleg limit order for all four legs, walked from mid to natural.

The ladder (``price_ladder``) starts at the mid credit and gives up a bounded number of steps
toward the natural credit, never below the minimum credit the strategy accepts. Every rung is its
own order with its own client_order_id (``<account>-<decision>-condor_open-<rung>``), gated by the
risk gate with a fresh RiskContext right before it is sent (fire counters and quote age move while
the ladder walks). A fill is recorded as the trade; nothing here ever sends a single option leg.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stockbot.broker.orders import make_client_order_id
from stockbot.domain import OrderIntent, TradeContext
from stockbot.engine.base import EngineDeps
from stockbot.engine.ladder import LadderResult, OrderLadder
from stockbot.engine.snapshot import CondorSnapshot
from stockbot.engine.trades import net_price, record_open
from stockbot.options.condor import CENT, CONTRACT_MULTIPLIER, IronCondor, condor_intent
from stockbot.options.condor_manage import price_ladder
from stockbot.options.ivrank import IVRank
from stockbot.risk.gate import Approved, Denied

PURPOSE = "condor_open"


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
    min_credit = (condor.width * Decimal(repr(c.min_credit_pct))).quantize(CENT)
    return price_ladder(condor.credit_mid, condor.credit_natural, c.price_step, c.max_price_steps,
                        min_credit=min_credit)


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
        d = self.deps
        prices = entry_prices(condor, d)
        if not prices:
            return EntryResult(LadderResult("no_price", ()), qty)
        by_symbol = {q.contract.symbol: q for q in snap.chain}
        stamps = [by_symbol[s].ts for s in condor.symbols if s in by_symbol]
        oldest = min(stamps) if len(stamps) == 4 else None  # unknown age denies (fail closed)

        def make(rung: int, price: Decimal | None) -> OrderIntent:
            cid = make_client_order_id(d.account, decision_id, PURPOSE, rung)
            return condor_intent(condor, qty, price, cid, decision_id=decision_id)

        async def check(intent: OrderIntent) -> Approved | Denied:
            now = d.now()
            age = None if oldest is None else snap.age_s(oldest, now)
            trade = TradeContext(d.account, "condor", condor.underlying, snap.market_now(now),
                                 order_type="mleg limit", iv_rank=rank.value, quote_age_s=age,
                                 extra={"decision_id": decision_id, "rung_price": str(intent.limit_price)})
            ctx = d.risk_context(snap.account, market_open=snap.clock.is_open, open_positions=snap.open_positions(),
                                 trade=trade, risk=order_risk(condor, intent.limit_price or Decimal(0), qty),
                                 quote_age_s=age)
            return await d.check(intent, ctx)

        result = await self.ladder.walk(prices, make, check)
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
