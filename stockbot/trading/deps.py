"""What every engine service shares: its collaborators, the risk check and failure reporting.

``EngineDeps`` bundles one account's collaborators (built once by the composition root and handed
to the engine); ``Notifier`` turns failures into lesson captures and alerts and never raises, so a
broken webhook or lesson index can never stop a close or a reconciliation.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

import structlog

from stockbot.trading.executor import OrderExecutor
from stockbot.config import Settings
from stockbot.domain import AccountSnapshot, BrokerOrder, OrderIntent, Quote, TradeContext, utcnow
from stockbot.trading.ladder import LadderTiming
from stockbot.trading.riskctx import NY, order_counts, start_of_week_equity, validation_state
from stockbot.flags import read_stop
from stockbot.risk.gate import Approved, Denied, RiskContext, RiskGate
from stockbot.risk.states import StateDecision, state_inputs, transition
from stockbot.store import Store
from stockbot.store_rows import OrderRow
from stockbot.trading.port import AlertSender, Broker, Capture, Lessons

if TYPE_CHECKING:
    from stockbot.lessons.failure import Failure

log = structlog.get_logger(__name__)

# Store statuses of an order whose outcome is not final: while one exists, nothing new is sent
# for it (the reconciler resolves it first).
IN_FLIGHT = frozenset({"submitting", "unknown", "new", "accepted", "pending_new", "partially_filled",
                       "pending_cancel", "pending_replace", "accepted_for_bidding", "held", "calculated",
                       "done_for_day"})


def orders_in_flight(store: Store, decision_id: str | None = None) -> list[OrderRow]:
    """Store orders whose outcome is not final (optionally of one decision / structure)."""
    return [o for o in store.orders() if o.status in IN_FLIGHT
            and (decision_id is None or o.decision_id == decision_id)]


def remember_order(store: Store, executor: OrderExecutor, intent: OrderIntent, order: BrokerOrder) -> None:
    """Record an order the broker created without our client id (``close_position``) under the
    broker's id: the store keeps the audit trail and the reconciler knows the order is ours."""
    if store.get_order(order.client_order_id) is None:
        store.record_order_intent(replace(intent, client_order_id=order.client_order_id), status=order.status)
    executor.record(order)


class Notifier:
    """Failure capture (lessons) and operator alerts for one account. Never raises."""

    def __init__(self, *, capture: Capture | None = None, alerter: AlertSender | None = None):
        self._capture = capture
        self._alerter = alerter

    async def failure(self, failure: Failure) -> None:
        """Hand ``failure`` to the capture service."""
        if self._capture is None:
            return
        try:
            result = self._capture(failure)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # noqa: BLE001 - capture must never break the trading path
            log.warning("engine.capture_failed", kind=getattr(failure, "kind", "?"), error=str(exc))

    async def alert(self, kind: str, message: str) -> None:
        """Send an operator alert (the alerter rate-limits per kind)."""
        log.warning("engine.alert", kind=kind, message=message)
        if self._alerter is None:
            return
        try:
            await self._alerter.send(kind, message)
        except Exception as exc:  # noqa: BLE001 - the alerter promises not to raise; belt and braces
            log.warning("engine.alert_failed", kind=kind, error=str(exc))


@dataclass
class EngineDeps:
    """One account's collaborators. ``now`` is the local wall clock (UTC); market-dated rules
    (DTE, expiration day) use the broker's clock instead, as the design asks."""

    account: str | None
    settings: Settings
    broker: Broker
    store: Store
    executor: OrderExecutor
    gate: RiskGate
    notifier: Notifier = field(default_factory=Notifier)
    lessons: Lessons | None = None
    now: Callable[[], datetime] = utcnow
    timing: LadderTiming = field(default_factory=LadderTiming)
    # Why new entries must wait (the daemon's health: a stale quote stream), or None. Closing,
    # management and reconciliation never ask it.
    entry_block: Callable[[], str | None] | None = None
    # The freshest streamed quote of a symbol, or None when the stream has none fresh enough;
    # decisions price the underlying from it and fall back to REST (set by the composition root).
    streamed_quote: Callable[[str], Quote | None] | None = None

    def entries_blocked(self) -> str | None:
        return None if self.entry_block is None else self.entry_block()

    def gate_with_lessons(self) -> RiskGate:
        """The configured gate plus the guards the lessons enforce right now (they can be learned
        while the daemon runs, so they are read before every order). Raises if they cannot be read."""
        if self.lessons is None:
            return self.gate
        have = {(getattr(g, "lesson_id", None), getattr(g, "kind", None)) for g in self.gate.guards}
        extra = [g for g in self.lessons.guards(now=self.now())
                 if (getattr(g, "lesson_id", None), getattr(g, "kind", None)) not in have]
        return self.gate if not extra else RiskGate(self.gate.settings, (*self.gate.guards, *extra))

    async def check(self, intent: OrderIntent, ctx: RiskContext) -> Approved | Denied:
        """The risk gate for one order; a denial is recorded as an ``order_denied`` event."""
        try:
            gate = self.gate_with_lessons()
        except Exception as exc:  # noqa: BLE001 - unknown guards: closing may go on, opening may not
            if not ctx.is_closing:
                denied = Denied(f"lesson guards unavailable: {exc}", "lesson_guards")
                self._record_denial(intent, denied)
                return denied
            gate = self.gate
        verdict = gate.check(intent, ctx)
        if isinstance(verdict, Denied):
            self._record_denial(intent, verdict)
        elif not ctx.is_closing and not self.settings.alpaca.paper and ctx.validation_reason.startswith("OVERRIDE"):
            from stockbot.trading.halts import note_live_override

            await note_live_override(self, ctx.validation_reason, intent.client_order_id)
        return verdict

    def _record_denial(self, intent: OrderIntent, denied: Denied) -> None:
        self.store.append_event("order_denied", {"client_order_id": intent.client_order_id, "purpose": intent.purpose,
                                                 "rule": denied.rule, "reason": denied.reason})
        log.info("engine.order_denied", client_order_id=intent.client_order_id, rule=denied.rule,
                 reason=denied.reason)

    def _baselines(self, account: AccountSnapshot) -> tuple[datetime, bool, Decimal, Decimal]:
        """``(now, STOP flag present, start-of-day equity, start-of-week equity)``."""
        now = self.now()
        sod = account.last_equity
        return now, read_stop(self.account) is not None, sod, start_of_week_equity(self.store.equity_curve(), now, sod)

    def trading_state(self, account: AccountSnapshot, *, out_of_capital: bool = False) -> StateDecision:
        """The account's trading state now (STOP flag, floor, loss limits, capital)."""
        _, stop, sod, sow = self._baselines(account)
        return self._state(account, stop, sod, sow, out_of_capital)

    def _state(self, account: AccountSnapshot, stop: bool, sod: Decimal, sow: Decimal,
               out_of_capital: bool) -> StateDecision:
        return transition(state_inputs(self.settings.risk, stop_flag=stop, equity=account.equity,
                                       start_of_day_equity=sod, start_of_week_equity=sow,
                                       out_of_capital=out_of_capital))

    async def observe(self, account: AccountSnapshot) -> None:
        """Record equity, and record + alert a change of trading state (``engine.halts``)."""
        from stockbot.trading.halts import observe_state

        self.record_equity(account)
        await observe_state(self, account, self.trading_state(account, out_of_capital=self.capital_out() is not None))

    def capital_out(self) -> dict[str, Any] | None:
        """The ``out_of_capital`` event payload while the account is in that state, else None."""
        last_out = self.store.events(kind="out_of_capital")[-1:]
        last_back = self.store.events(kind="capital_restored")[-1:]
        if not last_out or (last_back and last_back[0].seq > last_out[0].seq):
            return None
        return last_out[0].payload

    def risk_context(self, account: AccountSnapshot, *, market_open: bool, open_positions: int,
                     trade: TradeContext, is_closing: bool = False, risk: Decimal | None = None,
                     quote_age_s: float | None = None, out_of_capital: bool = False) -> RiskContext:
        """A real RiskContext: STOP flag, equity and loss baselines, fire counters from the store,
        validation gate, and the caller's market facts. Built right before each order."""
        now, stop, sod, sow = self._baselines(account)
        state = self._state(account, stop, sod, sow, out_of_capital).state
        last_hour, today = order_counts(self.store.orders(), now)
        validation = validation_state(self.settings, self.store, now.astimezone(NY).date())
        return RiskContext(now=now, trade=trade, trading_state=state, equity=account.equity,
                           start_of_day_equity=sod, start_of_week_equity=sow, orders_last_hour=last_hour,
                           orders_today=today, open_positions=open_positions, market_open=market_open,
                           live_allowed=validation.live_allowed, stop_flag=stop, is_closing=is_closing,
                           risk_of_this_order=risk, quote_age_s=quote_age_s,
                           pattern_day_trader=account.pattern_day_trader, validation_reason=validation.reason)

    def orders_in_flight(self, decision_id: str | None = None) -> list[OrderRow]:
        return orders_in_flight(self.store, decision_id)

    def remember(self, intent: OrderIntent, order: BrokerOrder) -> None:
        remember_order(self.store, self.executor, intent, order)

    def record_equity(self, account: AccountSnapshot) -> None:
        """Keep the equity curve (start-of-week baseline, dashboard)."""
        self.store.record_equity(self.now(), account.equity, account.cash)
