"""Executing a rebalance plan for one account.

Closes go through ``close_position()`` (Alpaca's own close, lesson LL-282), each gated as a
closing order. Opens are market orders through the same idempotent path as every other order:
the ``OrderLadder`` with a single rung (gate right before the POST, client id stored first,
ambiguous outcomes looked up by client id, an unfilled remainder cancelled and confirmed).
A symbol whose close did not complete is not reopened on the other side in the same plan (the
broker would net the two and the book would be wrong). Fills are booked by ``book.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, Protocol

import structlog

from stockbot.broker.errors import BrokerError
from stockbot.trading.executor import make_client_order_id
from stockbot.domain import OrderIntent, PositionIntent, Side, TradeContext
from stockbot.trading.deps import EngineDeps
from stockbot.trading.ladder import OrderLadder
from stockbot.strategies.equity.book import CLOSE_PURPOSE, OPEN_PURPOSE, book_close, book_open, open_trades
from stockbot.strategies.equity.strategy import CloseAction, OpenAction, RebalancePlan
from stockbot.strategies.equity.universes import Universe
from stockbot.lessons.failure import Failure
from stockbot.risk.gate import Approved, Denied, RiskContext
from stockbot.store_rows import TradeRow

log = structlog.get_logger(__name__)

# --------------------------------------------------------------------------- execution


@dataclass
class ExecutionReport:
    closed: list[dict[str, Any]] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)
    denied: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    out_of_capital: str | None = None


class ContextFor(Protocol):
    """The engine's RiskContext for one order on ``symbol``, from quotes read for this plan."""

    async def __call__(self, symbol: str, *, closing: bool, open_positions: int,
                       risk: Decimal | None = None) -> RiskContext: ...


class PlanExecutor:
    """Runs one rebalance plan: closes first, then opens, every order through the gate."""

    def __init__(self, deps: EngineDeps, ladder: OrderLadder, universe: Universe, *, strategy: str):
        self.deps = deps
        self.ladder = ladder
        self.universe = universe
        self.strategy = strategy
        self.held: dict[str, Decimal] = {}

    async def run(self, plan: RebalancePlan, *, decision_id: str, version: str, context_for: ContextFor,
                  buying_power: Decimal, held: Mapping[str, Decimal]) -> ExecutionReport:
        """Closes, then opens while buying power lasts (re-read after closes). ``held``: the broker's
        positions (symbol -> qty) before the plan."""
        # The last line of universe defence: nothing outside it is ever sent, whatever built the plan.
        self.universe.require([c.symbol for c in plan.closes] + [o.symbol for o in plan.opens], "order plan")
        report = ExecutionReport()
        self.held = {s: q for s, q in held.items() if q != 0}
        trades = open_trades(self.deps.store, self.strategy)
        for close in plan.closes:
            await self._close(close, trades.get(close.symbol), decision_id, context_for, report)
        unfinished = {a.symbol for a in plan.closes if a.full and a.symbol in self.held}
        remaining = buying_power
        if report.closed and plan.opens:
            # Closes freed buying power: size the opens against the broker's figure after them.
            remaining = (await self.deps.broker.account()).buying_power
        for action in plan.opens:
            if action.symbol in unfinished:
                report.errors.append(f"open {action.side} {action.symbol} skipped: its close did not complete")
                continue
            if action.notional > remaining:
                report.out_of_capital = (f"buying power ${remaining:.2f} < ${action.notional:.2f} needed to "
                                         f"open {action.side} {action.qty} {action.symbol}")
                break
            status = await self._open(action, decision_id, version, context_for, report)
            if status == "insufficient_funds":
                report.out_of_capital = f"broker refused {action.symbol} for buying power"
                break
            if status == "filled":
                remaining -= action.notional
        return report

    def _trade_ctx(self, symbol: str) -> TradeContext:
        return TradeContext(self.deps.account, self.strategy, symbol, self.deps.now(), order_type="market")

    async def _close(self, action: CloseAction, trade: TradeRow | None, decision_id: str,
                     context_for: ContextFor, report: ExecutionReport) -> None:
        d = self.deps
        side = Side.SELL if self.held.get(action.symbol, Decimal(0)) > 0 else Side.BUY
        # The id is a placeholder for the gate: close_position() gets its id from the broker.
        intent = OrderIntent(client_order_id=make_client_order_id(d.account, decision_id, f"close-{action.symbol}", 0),
                             qty=action.qty, symbol=action.symbol, side=side, purpose=CLOSE_PURPOSE,
                             decision_id=decision_id,
                             position_intent=PositionIntent.SELL_TO_CLOSE if side is Side.SELL
                             else PositionIntent.BUY_TO_CLOSE)
        verdict = await d.check(intent, await context_for(action.symbol, closing=True,
                                                          open_positions=len(self.held)))
        if isinstance(verdict, Denied):
            report.denied.append({"symbol": action.symbol, "action": "close", "rule": verdict.rule,
                                  "reason": verdict.reason})
            return
        try:
            order = await d.broker.close_position(action.symbol, qty=None if action.full else action.qty)
        except BrokerError as exc:
            report.errors.append(f"close_position({action.symbol}): {exc}")
            await d.notifier.failure(Failure.for_order("order_rejected", "equities.execution",
                                                       f"close_position({action.symbol}) failed: {exc}", intent,
                                                       self._trade_ctx(action.symbol), error=str(exc)))
            return
        d.remember(intent, order)
        final = await self.ladder.wait(order, d.timing.fill_timeout_s)
        d.executor.record(final)
        if final.filled_qty <= 0:
            report.errors.append(f"close of {action.symbol} is {final.status}, nothing filled yet")
            return
        pnl = None
        if trade is not None:
            pnl = book_close(d.store, trade, qty=final.filled_qty, price=final.filled_avg_price,
                             client_order_id=final.client_order_id, reason=action.reason, now=d.now())
        left = self.held.get(action.symbol, Decimal(0))
        left = left - final.filled_qty if left > 0 else left + final.filled_qty
        if left == 0:
            self.held.pop(action.symbol, None)
        else:
            self.held[action.symbol] = left
        report.closed.append({"symbol": action.symbol, "qty": str(final.filled_qty), "reason": action.reason,
                              "price": None if final.filled_avg_price is None else str(final.filled_avg_price),
                              "pnl": None if pnl is None else str(pnl), "status": final.status})

    async def _open(self, action: OpenAction, decision_id: str, version: str, context_for: ContextFor,
                    report: ExecutionReport) -> str:
        d = self.deps
        side = Side.BUY if action.side == "long" else Side.SELL

        def make_intent(rung: int, _price: Decimal | None) -> OrderIntent:
            cid = make_client_order_id(d.account, decision_id, f"open-{action.symbol}", rung)
            return OrderIntent(client_order_id=cid, qty=action.qty, order_type="market", time_in_force="day",
                               symbol=action.symbol, side=side, purpose=OPEN_PURPOSE, decision_id=decision_id)

        async def check(intent: OrderIntent) -> Approved | Denied:
            # Adding to a position we hold opens no new position: the gate counts only new ones.
            existing = len(self.held) - (1 if action.symbol in self.held else 0)
            ctx = await context_for(action.symbol, closing=False, open_positions=existing, risk=action.notional)
            return await d.check(intent, ctx)

        result = await self.ladder.walk([None], make_intent, check)
        if result.denied is not None:
            report.denied.append({"symbol": action.symbol, "action": "open", "rule": result.denied.rule,
                                  "reason": result.denied.reason})
        elif result.filled and result.order is not None:
            o = result.order
            book_open(d.store, strategy=self.strategy, symbol=action.symbol, side=action.side, qty=o.filled_qty,
                      price=o.filled_avg_price, decision_id=decision_id, version=version,
                      client_order_id=o.client_order_id, now=d.now())
            sign = 1 if action.side == "long" else -1
            self.held[action.symbol] = self.held.get(action.symbol, Decimal(0)) + sign * o.filled_qty
            report.opened.append({"symbol": action.symbol, "side": action.side, "qty": str(o.filled_qty),
                                  "price": None if o.filled_avg_price is None else str(o.filled_avg_price),
                                  "reason": action.reason})
        elif result.status in ("rejected", "unresolved"):
            report.errors.append(f"open {action.symbol}: {result.reason}")
            last = result.attempts[-1] if result.attempts else None
            await d.notifier.failure(Failure(
                "order_rejected" if result.status == "rejected" else "broker_error", "equities.execution",
                f"{action.side} {action.symbol} {result.status}: {result.reason}",
                {"error": str(result.error), "code": getattr(result.error, "code", None), "order_class": "simple",
                 "purpose": OPEN_PURPOSE, "client_order_id": last.client_order_id if last else None},
                strategy=self.strategy, symbol=action.symbol, order_type="market"))
        elif result.status != "insufficient_funds":
            report.errors.append(f"open {action.symbol}: {result.reason}")
        return "filled" if result.filled else result.status
