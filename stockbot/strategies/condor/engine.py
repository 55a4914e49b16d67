"""``CondorEngine``: one account's iron condor decision cycle and position management.

decide(): snapshot -> IV rank (recorded daily ATM IV, bootstrapped from realized vol) -> lessons
for this context -> consensus of the agents -> decision recorded with its lessons and prompt ->
on ENTER: build the condor from clamped parameters, size it, and enter with one mleg order.

Out of capital is a state, not a crash: when the broker refuses an entry for buying power (or the
account cannot carry one contract's max loss) an ``out_of_capital`` event is recorded, the operator
is alerted, the failure is captured, and no entry is attempted until buying power recovers
(``capital_restored``). The state lives in the store, so a restart remembers it.

Every public call holds ``lock``; give the same lock to the ``Reconciler`` so reconciliation never
runs while a ladder is walking (it would see the ladder's working order as stale and cancel it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

import structlog

from stockbot.broker.errors import (BrokerError, OptionsNotPermittedError, PatternDayTraderError,
                                    UnsupportedOrderError)
from stockbot.trading.executor import OrderExecutor
from stockbot.config import Settings
from stockbot.consensus.runner import ConsensusResult, new_decision_id
from stockbot.domain import AccountSnapshot, Action, CycleStatus, OrderPurpose, TradeContext, utcnow
from stockbot.trading.cycle import blocked_before_deciding, retrieve_lessons
from stockbot.trading.deps import EngineDeps, Notifier
from stockbot.strategies.condor.entry import CondorEntry, order_risk
from stockbot.trading.port import AlertSender, Broker, Capture, Consensus, Lessons
from stockbot.trading.ladder import Attempt, LadderTiming, OrderLadder
from stockbot.strategies.condor.manage import CondorManager, ManageOutcome
from stockbot.trading.riskctx import validation_state
from stockbot.strategies.condor.snapshot import CondorSnapshot, market_context, take_snapshot, update_iv_rank
from stockbot.lessons.failure import Failure
from stockbot.options.condor import CondorRefusal, IronCondor, build_condor, clamp_params
from stockbot.options.condor_manage import contracts_for
from stockbot.options.ivrank import IVRank
from stockbot.options.snap import snap_params
from stockbot.risk.gate import RiskGate
from stockbot.store import Store

if TYPE_CHECKING:  # the lessons' service module loads the embedder stack
    from stockbot.lessons.service import RetrievedLesson

log = structlog.get_logger(__name__)
OUT_OF_CAPITAL = "out_of_capital"
CAPITAL_RESTORED = "capital_restored"


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """The end of one decision cycle.

    ``status``: entered | hold | halted | blocked | market_closed | out_of_capital | no_condor |
    size_zero | no_price | not_filled | denied | rejected | unresolved | error.
    """

    status: CycleStatus | str  # a ladder's own end (e.g. insufficient_funds) passes through as text
    reason: str
    decision_id: str | None = None
    consensus: ConsensusResult | None = None
    condor: IronCondor | None = None
    qty: int = 0
    attempts: tuple[Attempt, ...] = ()


def _cycle_status(text: str) -> CycleStatus | str:
    """A ladder's end as a cycle status when it is one (rejected, unresolved, denied...)."""
    try:
        return CycleStatus(text)
    except ValueError:
        return text


def buying_power(account: AccountSnapshot) -> Decimal:
    """The buying power an options position draws on (options BP when the broker reports it)."""
    return account.options_buying_power if account.options_buying_power is not None else account.buying_power


class CondorEngine:
    """Decides and enters condors and manages open ones, for one account."""

    def __init__(self, account: str | None, settings: Settings, broker: Broker, store: Store, executor: OrderExecutor,
                 gate: RiskGate, consensus: Consensus, *, lessons: Lessons | None = None,
                 capture: Capture | None = None, alerter: AlertSender | None = None, now: Callable[[], datetime] = utcnow, timing: LadderTiming | None = None,
                 lock: asyncio.Lock | None = None):
        self.deps = EngineDeps(account, settings, broker, store, executor, gate,
                               Notifier(capture=capture, alerter=alerter), lessons, now,
                               timing or LadderTiming.from_settings(settings.condor))
        self.consensus = consensus
        ladder = OrderLadder(broker, executor, store, self.deps.timing)
        self.entry = CondorEntry(self.deps, ladder)
        self.manager = CondorManager(self.deps, ladder)
        self.lock = lock or asyncio.Lock()

    # ------------------------------------------------------------------ public

    async def decide(self) -> DecisionOutcome:
        """One decision cycle (see the module docstring). Broker faults end it with ``error``."""
        async with self.lock:
            try:
                return await self._decide()
            except BrokerError as exc:
                await self.deps.notifier.failure(Failure.from_exception("engine.decide", exc, job="decide",
                                                                        kind="broker_error"))
                return DecisionOutcome(CycleStatus.ERROR, f"{type(exc).__name__}: {exc}")

    async def manage(self) -> list[ManageOutcome]:
        """Hold or close every open condor (take profit, stop loss, time exit, expiration)."""
        async with self.lock:
            return await self.manager.manage()

    @property
    def out_of_capital(self) -> dict[str, Any] | None:
        """The ``out_of_capital`` event payload while the account is in that state, else None."""
        return self.deps.capital_out()

    # ------------------------------------------------------------------ the cycle

    async def _decide(self) -> DecisionOutcome:
        d, c = self.deps, self.deps.settings.condor
        early = blocked_before_deciding(d)
        if early is not None:
            return DecisionOutcome(*early)
        if self.out_of_capital is not None:  # cheap check first: no chain fetch while paused
            account = await d.broker.account()
            await d.observe(account)
            blocked = self._capital_check(account)
            if blocked is not None:
                return blocked
        snap = await take_snapshot(d.broker, d.settings, d.now(), streamed=d.streamed_quote)
        await d.observe(snap.account)
        if d.settings.risk.trading_hours_only and not snap.clock.is_open:
            return DecisionOutcome(CycleStatus.MARKET_CLOSED,
                                   f"market closed (next open {snap.clock.next_open.isoformat()})")
        rank, iv = update_iv_rank(d.store, snap, target_dte=(c.dte_min + c.dte_max) // 2)
        now = d.now()
        ctx = TradeContext(d.account, "condor", c.underlying, snap.market_now(now), order_type="mleg limit",
                           iv_rank=rank.value, quote_age_s=snap.age_s(snap.quote.ts, now),
                           market_condition=_condition(snap, rank))
        got = await retrieve_lessons(d, ctx)
        if got.guards_error is not None:  # nothing could stop a known mistake: fail closed
            return DecisionOutcome(CycleStatus.BLOCKED,
                                   f"lessons unavailable and guards unreadable ({got.guards_error}): HOLD")
        decision_id = new_decision_id("condor")
        result = await self.consensus.decide(market_context(snap, d.settings, rank, iv, got.refs),
                                             decision_id=decision_id)
        self._record_decision(result, list(got.found), rank, iv, lessons_error=got.error,
                              quote_source=snap.quote_source)
        if result.action is not Action.ENTER:
            return DecisionOutcome(CycleStatus.HOLD, result.reason, decision_id, result)
        return await self._enter(result, snap, rank)

    async def _enter(self, result: ConsensusResult, snap: CondorSnapshot, rank: IVRank) -> DecisionOutcome:
        d, c, did = self.deps, self.deps.settings.condor, result.decision_id
        params = snap_params(clamp_params(result.params, c), snap.chain, snap.spot, snap.clock.ts, c)
        if params.clamped:
            d.store.append_event("condor_params_adjusted", {"decision_id": did, "notes": list(params.clamped)})
        condor = build_condor(snap.chain, snap.spot, snap.clock.ts, params, c)
        if isinstance(condor, CondorRefusal):
            d.store.append_event("condor_refused", {"decision_id": did, "code": condor.code, "reason": condor.reason})
            return DecisionOutcome(CycleStatus.NO_CONDOR, f"{condor.code}: {condor.reason}", did, result)
        validation = validation_state(d.settings, d.store, snap.market_date)
        qty = contracts_for(condor.max_loss, snap.account.equity, d.settings.risk.max_risk_per_trade,
                            validation.still_validating)
        if qty == 0:
            why = (f"max loss ${condor.max_loss}/contract exceeds {d.settings.risk.max_risk_per_trade:.1%} of "
                   f"equity ${snap.account.equity}")
            d.store.append_event("condor_size_zero", {"decision_id": did, "reason": why})
            return DecisionOutcome(CycleStatus.SIZE_ZERO, why, did, result, condor)
        # The worst case the ladder may fill at: the natural credit, whose max loss is the largest.
        need, bp = order_risk(condor, -condor.credit_natural, qty), buying_power(snap.account)
        if bp < need:  # the broker would refuse it: do not send an order that cannot fill
            return await self._out_of_capital(snap.account, need, f"buying power ${bp} < max loss ${need}", did,
                                              source="precheck")
        entry = await self.entry.enter(condor, qty, did, snap, rank)
        lad = entry.ladder
        if entry.condor is not None:  # filled: the condor carries the fill credit
            return DecisionOutcome(CycleStatus.ENTERED,
                                   f"filled {entry.qty} at credit {entry.condor.credit}", did, result,
                                   entry.condor, entry.qty, lad.attempts)
        if lad.status == "insufficient_funds":
            out = await self._out_of_capital(snap.account, need, f"broker refused the entry: {lad.error}", did,
                                             source="broker")
            return DecisionOutcome(out.status, out.reason, did, result, condor, qty, lad.attempts)
        if lad.status in ("rejected", "unresolved"):
            kind = "order_rejected" if lad.status == "rejected" else "broker_error"
            if isinstance(lad.error, PatternDayTraderError):
                kind = "pdt_lockout"
            elif isinstance(lad.error, (OptionsNotPermittedError, UnsupportedOrderError)):
                kind = "config_error"  # the account or our settings must change: trading/rejections.py blocks entries
            last = lad.attempts[-1]
            await d.notifier.failure(Failure(kind, "engine.entry", f"condor entry {lad.status}: {lad.reason}",
                                             {"error": str(lad.error), "code": getattr(lad.error, "code", None),
                                              "order_class": "mleg", "leg_count": 4,
                                              "purpose": OrderPurpose.CONDOR_OPEN,
                                              "client_order_id": last.client_order_id},
                                             strategy="condor", symbol=c.underlying, order_type="mleg limit"))
        elif lad.status == "exhausted":
            d.store.append_event("condor_not_filled", {"decision_id": did, "rungs": len(lad.attempts)})
        status = CycleStatus.NOT_FILLED if lad.status == "exhausted" else _cycle_status(lad.status)
        return DecisionOutcome(status, lad.reason, did, result, condor, qty, lad.attempts)

    # ------------------------------------------------------------------ helpers

    def _record_decision(self, result: ConsensusResult, retrieved: list[RetrievedLesson], rank: IVRank,
                         iv: float | None, *, lessons_error: str | None = None, quote_source: str = "rest") -> None:
        kwargs = result.record_decision_kwargs()
        if retrieved:
            kwargs["lessons"] = [r.as_record() for r in retrieved]
        kwargs["context"] = {**(kwargs.get("context") or {}), "atm_iv": iv, "quote_source": quote_source,
                             "iv_rank": {"value": rank.value, "method": rank.method.value, "reason": rank.reason}}
        if lessons_error is not None:
            kwargs["context"]["lessons_error"] = lessons_error
        self.deps.store.record_decision(**kwargs)

    def _capital_check(self, account: AccountSnapshot) -> DecisionOutcome | None:
        """None if entries may go on; an ``out_of_capital`` outcome while the state persists."""
        state = self.out_of_capital
        if state is None:
            return None
        bp = buying_power(account)
        need = Decimal(str(state.get("needed") or 0))
        before = Decimal(str(state.get("buying_power") or 0))
        # After a broker refusal our max-loss estimate was evidently not the broker's requirement,
        # so buying power must also have grown since the refusal (a re-fund, a position closed).
        grown = bp > before or state.get("source") != "broker"
        if bp >= need and grown:
            self.deps.store.append_event(CAPITAL_RESTORED, {"buying_power": bp, "needed": need,
                                                            "equity": account.equity})
            log.info("engine.capital_restored", buying_power=str(bp), needed=str(need))
            return None
        return DecisionOutcome(CycleStatus.OUT_OF_CAPITAL, f"out of capital: buying power ${bp} < ${need} needed; "
                                                 "no entries until the account is re-funded")

    async def _out_of_capital(self, account: AccountSnapshot, need: Decimal, why: str, decision_id: str, *,
                              source: str) -> DecisionOutcome:
        d = self.deps
        bp = buying_power(account)
        d.store.append_event(OUT_OF_CAPITAL, {"decision_id": decision_id, "needed": need, "buying_power": bp,
                                              "equity": account.equity, "reason": why, "source": source})
        message = f"account out of capital ({why}); entries paused until buying power recovers"
        await d.notifier.alert("out_of_capital", message)
        await d.observe(account)  # REDUCING (out_of_capital): recorded as a state change
        await d.notifier.failure(Failure("out_of_capital", "engine.entry", message,
                                         {"reason": "insufficient buying power for a new condor"},
                                         strategy="condor", symbol=d.settings.condor.underlying,
                                         order_type="mleg limit", impact="no new entries until re-funded"))
        return DecisionOutcome(CycleStatus.OUT_OF_CAPITAL, message, decision_id)


def _condition(snap: CondorSnapshot, rank: IVRank) -> str:
    ivr = "unknown" if rank.percent is None else f"{rank.percent:.0f}"
    return f"{snap.quote.symbol} at {snap.spot:.2f}, IV rank {ivr} ({rank.method.value})"
