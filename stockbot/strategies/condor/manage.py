"""Managing open condors: price the close, decide, and close with ONE mleg order.

For each open condor trade the closing debit is priced from the legs' option quotes and
``manage_decision`` applies take profit / stop loss / time exit / never into expiration day. A
close is one mleg order (buy_to_close the shorts, sell_to_close the wings) walked from the mid
debit toward the natural with ``closing_price_ladder``. If the broker *rejects* the closing mleg,
the condor is closed leg by leg through ``close_position()`` — shorts before longs, and a long is
only closed once every short is gone, so no step of the fallback can leave a naked short — and
the rejection is handed to the lesson capture.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Mapping

import structlog

from stockbot.broker.errors import BrokerError
from stockbot.trading.executor import make_client_order_id
from stockbot.domain import (AccountSnapshot, AssetClass, Clock, ManageStatus, OptionQuote, OrderIntent, OrderPurpose,
                             PositionIntent, Side, TradeContext)
from stockbot.store_rows import TradeRow
from stockbot.trading.deps import EngineDeps
from stockbot.trading.ladder import Attempt, Check, LadderResult, OrderLadder
from stockbot.strategies.condor.trades import STRATEGY, condor_of, net_price, record_close, reduce_trade
from stockbot.lessons.failure import Failure
from stockbot.lessons.guards import CLOSE_POSITION_PURPOSE
from stockbot.options.condor import CENT, IronCondor, condor_intent
from stockbot.options.condor_manage import Close, CloseReason, Hold, closing_price_ladder, manage_decision
from stockbot.risk.gate import Approved, Denied, RiskContext

log = structlog.get_logger(__name__)
PURPOSE = OrderPurpose.CONDOR_CLOSE


@dataclass(frozen=True, slots=True)
class ManageOutcome:
    """What happened to one open condor this cycle.

    ``action``: hold | closed | closed_leg_by_leg | partially_closed | not_filled | denied | unpriced |
    skipped | error.
    """

    structure_id: str
    action: ManageStatus
    reason: str
    debit: Decimal | None = None
    pnl: Decimal | None = None
    attempts: tuple[Attempt, ...] = ()


def closing_debits(condor: IronCondor, quotes: Mapping[str, OptionQuote]) -> tuple[Decimal, Decimal, datetime] | None:
    """(mid debit, natural debit, oldest quote time) to buy ``condor`` back; None unless all four
    legs have a sane two-sided quote (no price is better than a wrong one)."""
    qs = [quotes.get(s) for s in condor.symbols]
    if any(q is None or q.ask <= 0 or q.bid < 0 or q.bid > q.ask for q in qs):
        return None
    sc, lc, sp, lp = qs  # legs are ordered short call, long call, short put, long put
    mid = sc.mid + sp.mid - lc.mid - lp.mid  # type: ignore[union-attr]
    natural = sc.ask + sp.ask - lc.bid - lp.bid  # type: ignore[union-attr]
    return mid, natural, min(q.ts for q in qs)  # type: ignore[union-attr]


def closing_prices(condor: IronCondor, mid: Decimal, natural: Decimal, deps: EngineDeps) -> list[Decimal]:
    """Debit rungs from mid toward natural, capped at the width (the most a condor can be worth)."""
    c = deps.settings.condor
    rungs = [p for p in closing_price_ladder(mid, natural, c.price_step, c.max_price_steps, max_debit=condor.width)
             if p > 0]
    return rungs or [max(CENT, min(natural, condor.width).quantize(CENT, rounding=ROUND_CEILING))]


class CondorManager:
    """Holds or closes every open condor of one account."""

    def __init__(self, deps: EngineDeps, ladder: OrderLadder):
        self.deps = deps
        self.ladder = ladder

    async def manage(self) -> list[ManageOutcome]:
        """One management pass over the open condor trades (broker faults are per trade)."""
        d = self.deps
        trades = [t for t in d.store.trades(status="open") if t.strategy == STRATEGY]
        if not trades:
            return []
        try:
            account, clock = await d.broker.account(), await d.broker.clock()
            held = {p.symbol: p.qty for p in await d.broker.positions()}
        except BrokerError as exc:
            await d.notifier.failure(Failure.from_exception("engine.manage", exc, job="manage", kind="broker_error"))
            return [ManageOutcome(t.structure_id, ManageStatus.ERROR, f"broker unavailable: {exc}") for t in trades]
        taken_at = d.now()
        await d.observe(account)
        expected: dict[str, Decimal] = defaultdict(Decimal)  # two condors may share a contract
        for trade in trades:
            for leg in trade.legs:
                expected[leg.symbol] += leg.qty
        out = []
        for trade in trades:
            intact = all(held.get(leg.symbol) == expected[leg.symbol] for leg in trade.legs)
            try:
                out.append(await self._one(trade, account, clock, intact, len(held), taken_at))
            except BrokerError as exc:
                await d.notifier.failure(Failure.from_exception("engine.manage", exc, job="manage", kind="broker_error",
                                                                structure_id=trade.structure_id))
                out.append(ManageOutcome(trade.structure_id, ManageStatus.ERROR, f"{type(exc).__name__}: {exc}"))
        return out

    async def _one(self, trade: TradeRow, account: AccountSnapshot, clock: Clock, intact: bool,
                   open_positions: int, taken_at: datetime) -> ManageOutcome:
        d, sid = self.deps, trade.structure_id
        condor = condor_of(trade)
        if condor is None or trade.entry_price is None:
            return ManageOutcome(sid, ManageStatus.ERROR,
                                 "stored trade is not one priced iron condor; reconciliation decides")
        if d.orders_in_flight(sid):
            return ManageOutcome(sid, ManageStatus.SKIPPED,
                                 "an order of this condor is in flight; reconciliation resolves it")
        if not intact:
            # Expired, assigned, closed by hand or half closed: a closing mleg for legs that are not
            # there would be refused or open new ones. Reconciliation owns this case.
            return ManageOutcome(sid, ManageStatus.SKIPPED,
                                 "legs at the broker differ from the trade; reconciliation decides")
        quotes = await d.broker.option_quotes(list(condor.symbols))
        priced = closing_debits(condor, quotes)
        market_now = clock.ts + (d.now() - taken_at)
        credit = trade.entry_price
        verdict = manage_decision(condor, priced[0] if priced else None, market_now, d.settings.condor,
                                  entry_credit=credit)
        if isinstance(verdict, Hold):
            return ManageOutcome(sid, ManageStatus.HOLD, verdict.detail, debit=priced[0] if priced else None)
        d.store.append_event("condor_close_decided", {"structure_id": sid, "reason": verdict.reason.value,
                                                      "detail": verdict.detail,
                                                      "debit_mid": priced[0] if priced else None})
        return await self._close(trade, condor, verdict, priced, account, clock, open_positions, taken_at)

    async def _close(self, trade: TradeRow, condor: IronCondor, verdict: Close,
                     priced: tuple[Decimal, Decimal, datetime] | None, account: AccountSnapshot, clock: Clock,
                     open_positions: int, taken_at: datetime) -> ManageOutcome:
        d, sid = self.deps, trade.structure_id
        qty = trade.qty
        if priced is not None:
            prices: list[Decimal | None] = list(closing_prices(condor, priced[0], priced[1], d))
        elif verdict.reason is CloseReason.EXPIRATION:
            prices = [None]  # never hold into expiration: a market mleg beats an unpriced position
        else:
            await d.notifier.failure(Failure("stale_quotes", "engine.manage", f"no usable quotes to close {sid}",
                                             {"reason": "no two-sided quotes for every leg"}, strategy=STRATEGY,
                                             symbol=condor.underlying))
            return ManageOutcome(sid, ManageStatus.UNPRICED,
                                 f"{verdict.reason.value}: no usable quotes; retried next cycle")
        oldest = priced[2] if priced else None

        def ctx_for(intent: OrderIntent) -> RiskContext:
            now = d.now()
            age = None if oldest is None else (clock.ts - oldest).total_seconds() + (now - taken_at).total_seconds()
            kind = f"mleg {intent.order_type}" if intent.legs else intent.order_type
            trade_ctx = TradeContext(d.account, STRATEGY, condor.underlying, clock.ts + (now - taken_at),
                                     order_type=kind, quote_age_s=age,
                                     extra={"structure_id": sid, "close_reason": verdict.reason.value})
            return d.risk_context(account, market_open=clock.is_open, open_positions=open_positions,
                                  trade=trade_ctx, is_closing=True, quote_age_s=age)

        def make(rung: int, price: Decimal | None) -> OrderIntent:
            n = sum(1 for o in d.store.orders() if o.decision_id == sid and o.purpose == PURPOSE)
            return condor_intent(condor, qty, price, make_client_order_id(d.account, sid, PURPOSE, n),
                                 closing=True, decision_id=sid)

        async def check(intent: OrderIntent) -> Approved | Denied:
            return await d.check(intent, ctx_for(intent))

        result = await self.ladder.walk(prices, make, check)
        if result.filled:
            return self._book_fill(trade, result, verdict)
        if result.status in ("rejected", "insufficient_funds"):
            return await self._leg_by_leg(trade, condor, verdict, result, check)
        if result.status == "denied":
            return ManageOutcome(sid, ManageStatus.DENIED, result.reason, attempts=result.attempts)
        if result.status == "unresolved":
            await d.notifier.failure(Failure("broker_error", "engine.manage", f"closing order of {sid} unresolved",
                                             {"error": result.reason, "purpose": PURPOSE}, strategy=STRATEGY))
            return ManageOutcome(sid, ManageStatus.ERROR, result.reason, attempts=result.attempts)
        d.store.append_event("condor_close_not_filled", {"structure_id": sid, "rungs": len(result.attempts)})
        return ManageOutcome(sid, ManageStatus.NOT_FILLED, result.reason, attempts=result.attempts)

    def _book_fill(self, trade: TradeRow, result: LadderResult, verdict: Close) -> ManageOutcome:
        order = result.order
        assert order is not None
        debit = net_price(order)
        if debit is None:
            debit = result.attempts[-1].limit_price  # a limit fills at that price or better
        sid, qty = trade.structure_id, trade.qty
        if order.filled_qty < qty:
            reduce_trade(self.deps.store, trade, closed_qty=order.filled_qty, debit=debit,
                         client_order_id=order.client_order_id)
            return ManageOutcome(sid, ManageStatus.PARTIALLY_CLOSED,
                                 f"closed {order.filled_qty} of {qty}; the rest next cycle",
                                 debit=debit, attempts=result.attempts)
        pnl = record_close(self.deps.store, trade, debit=debit, client_order_id=order.client_order_id,
                           reason=verdict.reason.value, method="mleg", closed=self.deps.now())
        return ManageOutcome(sid, ManageStatus.CLOSED,
                             f"{verdict.reason.value}: {verdict.detail}", debit=debit, pnl=pnl,
                             attempts=result.attempts)

    async def _leg_by_leg(self, trade: TradeRow, condor: IronCondor, verdict: Close, result: LadderResult,
                          check: Check) -> ManageOutcome:
        """Close each leg through close_position(): every short first; longs only once no short is left."""
        d, sid = self.deps, trade.structure_id
        err = result.error
        intent = condor_intent(condor, trade.qty, result.attempts[-1].limit_price,
                               result.attempts[-1].client_order_id, closing=True, decision_id=sid)
        await d.notifier.failure(Failure.for_order(
            "order_rejected", "engine.manage", f"closing mleg of condor {sid} rejected: {err}", intent,
            impact="condor closed leg by leg through close_position() instead",
            code=getattr(err, "code", None), http_status=getattr(err, "status", None), error=str(err)))
        d.store.append_event("condor_close_leg_by_leg", {"structure_id": sid, "error": str(err)})
        legs = sorted(trade.legs, key=lambda leg: (leg.qty > 0, leg.symbol))
        net: Decimal | None = Decimal(0)  # per-share debit of the whole condor, from the legs' fills
        qty = trade.qty
        for leg in legs:
            symbol = leg.symbol
            pos = await d.broker.position(symbol)
            if pos is None or pos.qty == 0:
                net = None  # gone meanwhile (closed elsewhere): the exit price is unknown
                continue
            side = Side.BUY if pos.qty < 0 else Side.SELL
            # The id is a placeholder for the gate: close_position() gets its id from the broker.
            leg_intent = OrderIntent(client_order_id=f"{sid}-close-{symbol}"[:48], qty=abs(pos.qty),
                                     symbol=symbol, side=side, asset_class=AssetClass.OPTION,
                                     position_intent=PositionIntent.BUY_TO_CLOSE if side is Side.BUY
                                     else PositionIntent.SELL_TO_CLOSE, purpose=CLOSE_POSITION_PURPOSE,
                                     decision_id=sid)
            denied = await check(leg_intent)
            if isinstance(denied, Denied):
                return await self._incomplete(sid, f"leg {symbol} close denied: {denied.reason}")
            try:
                order = await d.broker.close_position(symbol, qty=abs(pos.qty))
            except BrokerError as exc:
                return await self._incomplete(sid, f"close_position({symbol}) failed: {exc}")
            d.remember(leg_intent, order)
            final = await self.ladder.wait(order, d.timing.fill_timeout_s)
            d.executor.record(final)
            if final.status != "filled":
                # A short still open keeps its wing: stop here rather than close protection first.
                return await self._incomplete(sid, f"close of {symbol} is {final.status}, not filled")
            if final.filled_avg_price is None or qty <= 0 or net is None:
                net = None  # one unknown fill makes the whole exit price unknown
            else:
                net += (1 if side is Side.BUY else -1) * final.filled_avg_price * (abs(pos.qty) / qty)
        pnl = record_close(d.store, trade, debit=net, client_order_id=None, reason=verdict.reason.value,
                           method="leg_by_leg", closed=d.now())
        return ManageOutcome(sid, ManageStatus.CLOSED_LEG_BY_LEG,
                             f"{verdict.reason.value}: mleg rejected ({err}); closed leg by leg",
                             debit=net, pnl=pnl, attempts=result.attempts)

    async def _incomplete(self, sid: str, why: str) -> ManageOutcome:
        self.deps.store.append_event("condor_close_incomplete", {"structure_id": sid, "reason": why})
        await self.deps.notifier.alert("orphan", f"condor {sid} only partly closed leg by leg: {why}; "
                                                 "reconciliation will close what is left (shorts first)")
        return ManageOutcome(sid, ManageStatus.ERROR, why)
