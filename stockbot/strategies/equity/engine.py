"""``EquityEngine``: one equity/index account's screen -> vote -> risk gate -> rebalance cycle.

decide(): (orders in flight -> blocked; STOP -> halted; market closed -> market_closed) ->
screen the account's universe with its saved model -> propose the long/short slate -> lessons for
the context -> the agents vote on the slate -> the decision is recorded with its strategy version
``<account>-<profile>-<date>`` -> on ENTER: size the agreed picks, plan the rebalance against the
positions this strategy owns, and execute it (closes through ``close_position()``, opens as market
orders through the idempotent ladder, the risk gate with the profile's limits and the lessons'
guards before every order). train(): the weekly retrain. Both hold ``lock``; give the same lock
to the reconciler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Callable

import structlog

from stockbot.broker.errors import BrokerError
from stockbot.trading.executor import OrderExecutor
from stockbot.config import Settings, account_paths
from stockbot.consensus.runner import ConsensusResult, new_decision_id
from stockbot.domain import Action, CycleStatus, TradeContext, utcnow
from stockbot.trading.cycle import blocked_before_deciding, retrieve_lessons
from stockbot.trading.deps import EngineDeps, Notifier
from stockbot.trading.port import AlertSender, Broker, Capture, Consensus, Lessons
from stockbot.trading.ladder import LadderTiming, OrderLadder
from stockbot.strategies.equity.book import open_trades
from stockbot.strategies.equity.context import ScreenResult, equity_context, record_kwargs
from stockbot.strategies.equity.execution import ExecutionReport, PlanExecutor
from stockbot.strategies.equity.history import NY, HistoryLoader
from stockbot.strategies.equity.profiles import effective_params, strategy_version
from stockbot.strategies.equity.screener import (Progress, ScreenerError, TrainConfig, TrainedScreener, load_screener,
                                        save_screener, train_screener)
from stockbot.strategies.equity.strategy import Candidate, RebalancePlan, agreed_picks, propose_slate, rebalance_plan, \
    target_positions
from stockbot.strategies.equity.universes import Universe, load_universe
from stockbot.lessons.failure import Failure
from stockbot.risk.gate import RiskContext, RiskGate
from stockbot.store import Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EquityOutcome:
    """The end of one cycle. ``status``: rebalanced | hold | halted | blocked | market_closed |
    no_model | no_candidates | error."""

    status: CycleStatus
    reason: str
    decision_id: str | None = None
    strategy_version: str | None = None
    consensus: ConsensusResult | None = None
    proposed: tuple[Candidate, ...] = ()
    agreed: tuple[str, ...] = ()
    plan: RebalancePlan | None = None
    execution: ExecutionReport | None = field(default=None)


class EquityEngine:
    """Screens, votes and rebalances one account's long/short slate inside its universe."""

    def __init__(self, account: str | None, settings: Settings, broker: Broker, store: Store, executor: OrderExecutor,
                 gate: RiskGate, consensus: Consensus, *, lessons: Lessons | None = None,
                 capture: Capture | None = None, alerter: AlertSender | None = None, now: Callable[[], datetime] = utcnow, timing: LadderTiming | None = None,
                 lock: asyncio.Lock | None = None, universe: Universe | None = None,
                 loader: HistoryLoader | None = None, train_config: TrainConfig | None = None):
        if settings.strategy not in ("equity", "index"):
            raise ValueError(f"EquityEngine runs STRATEGY=equity or index, not {settings.strategy!r}")
        self.params = effective_params(settings)
        self.universe = universe or load_universe(settings.equity.universe)
        if self.universe.name != settings.equity.universe:
            raise ValueError(f"universe {self.universe.name} does not match EQUITY_UNIVERSE={settings.equity.universe}")
        # The profile's risk limits replace the account's for this strategy (e.g. max_aggro's 100%
        # loss limits); the lesson guards stay exactly as configured.
        effective = settings.model_copy(update={"risk": self.params.risk})
        self.deps = EngineDeps(account, effective, broker, store, executor, RiskGate(self.params.risk, gate.guards),
                               Notifier(capture=capture, alerter=alerter), lessons, now,
                               timing or LadderTiming.from_settings(settings.condor))
        self.strategy = settings.strategy
        self.consensus = consensus
        self.loader = loader or HistoryLoader(broker, self.universe, account_paths(account)["models"])
        self.train_config = train_config or TrainConfig()
        self.ladder = OrderLadder(broker, executor, store, self.deps.timing)
        self.lock = lock or asyncio.Lock()

    # ------------------------------------------------------------------ public

    async def decide(self) -> EquityOutcome:
        """One decision and rebalance cycle. Broker faults end it with ``error`` (and a lesson)."""
        async with self.lock:
            try:
                return await self._decide()
            except BrokerError as exc:
                await self.deps.notifier.failure(Failure.from_exception("equities.decide", exc, job="decide",
                                                                        kind="broker_error"))
                return EquityOutcome(CycleStatus.ERROR, f"{type(exc).__name__}: {exc}")

    async def train(self, progress: Progress | None = None) -> TrainedScreener:
        """Retrain on every completed session up to yesterday and save the model (weekly job)."""
        async with self.lock:
            clock = await self.deps.broker.clock()
            market_date = clock.ts.astimezone(NY).date()
            histories = await self.loader.load(market_date)
            etf = histories.get(self.universe.etf)
            cutoff = None if etf is None else etf.last_date  # None when the history is empty
            if cutoff is None:
                raise ScreenerError(f"no history for {self.universe.etf}: cannot date the training cut-off")
            screener = await asyncio.to_thread(
                train_screener, histories, universe=self.universe.name, etf=self.universe.etf, cutoff=cutoff,
                forward_days=self.params.forward_days, account=self.deps.account, config=self.train_config,
                progress=progress)
            await asyncio.to_thread(save_screener, screener, self.deps.account)
            m = screener.meta
            self.deps.store.append_event("screener_trained", {
                "universe": m["universe"], "cutoff": m["cutoff"], "rows": m["rows"], "symbols": m["symbols"],
                "validation": m["validation"]["mean"], "sha256": m.get("sha256")})
            log.info("equities.trained", cutoff=m["cutoff"], rows=m["rows"], validation=m["validation"]["mean"])
            return screener

    async def screen(self, market_date: date | None = None) -> ScreenResult:
        """Rank the universe with the saved model (no vote, no orders). Raises ScreenerError."""
        if market_date is None:
            market_date = (await self.deps.broker.clock()).ts.astimezone(NY).date()
        screener = await asyncio.to_thread(load_screener, self.deps.account, self.universe.name)
        histories = await self.loader.load(market_date)
        ranked = await asyncio.to_thread(screener.rank, histories, self.universe.etf)
        self.universe.require([r.symbol for r in ranked], "screen")
        return ScreenResult(market_date, ranked, histories, screener.meta)

    # ------------------------------------------------------------------ the cycle

    async def _decide(self) -> EquityOutcome:
        d = self.deps
        early = blocked_before_deciding(d)
        if early is not None:
            return EquityOutcome(*early)
        account = await d.broker.account()
        await d.observe(account)
        clock, taken_at = await d.broker.clock(), d.now()
        if d.settings.risk.trading_hours_only and not clock.is_open:
            return EquityOutcome(CycleStatus.MARKET_CLOSED, f"market closed (next open {clock.next_open.isoformat()})")
        market_date = clock.ts.astimezone(NY).date()
        try:
            screen = await self.screen(market_date)
        except ScreenerError as exc:
            d.store.append_event("screener_unavailable", {"reason": str(exc)})
            await d.notifier.alert("job_crash", f"equity decision skipped: {exc}")
            return EquityOutcome(CycleStatus.NO_MODEL, str(exc))
        version = strategy_version(d.account, self.params.profile, market_date)
        proposed = propose_slate(screen.ranked, self.params, account.shorting_enabled)
        if not proposed:
            return EquityOutcome(CycleStatus.NO_CANDIDATES,
                                 "the screener ranked no eligible symbol", strategy_version=version)
        positions = await d.broker.positions()
        decision_id = new_decision_id(self.strategy)
        trade = TradeContext(d.account, self.strategy, self.universe.etf, clock.ts, order_type="market",
                             market_condition=screen.condition(self.universe.etf))
        got = await retrieve_lessons(d, trade)
        if got.guards_error is not None:  # nothing could stop a known mistake: fail closed
            return EquityOutcome(CycleStatus.BLOCKED,
                                 f"lessons unavailable and guards unreadable ({got.guards_error}): HOLD",
                                 strategy_version=version)
        context = equity_context(self.strategy, self.universe, screen, proposed, account, positions, self.params,
                                 list(got.refs), clock.ts)
        result = await self.consensus.decide(context, decision_id=decision_id)
        kwargs = record_kwargs(result, list(got.found), version, self.params, screen, proposed)
        if got.error is not None:
            kwargs["context"] = {**(kwargs.get("context") or {}), "lessons_error": got.error}
        d.store.record_decision(**kwargs)
        if result.action is not Action.ENTER:
            return EquityOutcome(CycleStatus.HOLD, result.reason, decision_id, version, result, tuple(proposed))
        picks = agreed_picks(result.params.get("slate") or [], proposed)
        agreed = tuple(f"{c.side} {c.symbol}" for c, _ in picks)
        if not picks:
            return EquityOutcome(CycleStatus.HOLD,
                                 "no proposed pick reached the supermajority", decision_id, version, result,
                                 tuple(proposed))
        ours = set(open_trades(d.store, self.strategy))
        wanted = sorted({c.symbol for c, _ in picks} | {p.symbol for p in positions if p.symbol in ours})
        self.universe.require(wanted, "quote request")
        quotes = await d.broker.latest_quotes(wanted)
        targets = target_positions(picks, equity=account.equity, multiplier=account.multiplier, params=self.params,
                                   quotes=quotes)
        plan = rebalance_plan(positions, targets, ours)
        d.store.append_event("equity_plan", {
            "decision_id": decision_id, "strategy_version": version,
            "targets": {s: str(t.qty) for s, t in targets.items()},
            "closes": [(c.symbol, str(c.qty), c.reason) for c in plan.closes],
            "opens": [(o.symbol, o.side, str(o.qty), o.reason) for o in plan.opens], "keeps": list(plan.keeps),
            "untouched": list(plan.untouched)})

        async def context_for(symbol: str, *, closing: bool, open_positions: int,
                              risk: Decimal | None = None) -> RiskContext:
            q = quotes.get(symbol)
            age = None if q is None else (clock.ts - q.ts).total_seconds() + (d.now() - taken_at).total_seconds()
            tc = TradeContext(d.account, self.strategy, symbol, clock.ts + (d.now() - taken_at), order_type="market",
                              quote_age_s=age)
            return d.risk_context(account, market_open=clock.is_open, open_positions=open_positions, trade=tc,
                                  is_closing=closing, risk=risk, quote_age_s=age)

        executor = PlanExecutor(d, self.ladder, self.universe, strategy=self.strategy)
        report = await executor.run(plan, decision_id=decision_id, version=version, context_for=context_for,
                                    buying_power=account.buying_power, held={p.symbol: p.qty for p in positions})
        d.store.append_event("equity_rebalanced", {
            "decision_id": decision_id, "strategy_version": version, "closed": report.closed,
            "opened": report.opened, "denied": report.denied, "errors": report.errors,
            "out_of_capital": report.out_of_capital})
        if report.out_of_capital:
            await self._out_of_capital(report.out_of_capital, decision_id)
        summary = (f"{len(report.closed)} closed, {len(report.opened)} opened, {len(plan.keeps)} kept, "
                   f"{len(report.denied)} denied, {len(report.errors)} errors")
        return EquityOutcome(CycleStatus.REBALANCED,
                             summary, decision_id, version, result, tuple(proposed), agreed, plan,
                             report)

    # ------------------------------------------------------------------ helpers

    async def _out_of_capital(self, why: str, decision_id: str) -> None:
        d = self.deps
        d.store.append_event("out_of_capital", {"decision_id": decision_id, "reason": why, "source": "equity"})
        message = f"account out of capital ({why}); new positions wait until buying power returns"
        await d.notifier.alert("out_of_capital", message)
        await d.notifier.failure(Failure("out_of_capital", "equities.execution", message,
                                         {"reason": "insufficient buying power for the slate"},
                                         strategy=self.strategy, symbol=self.universe.etf, order_type="market",
                                         impact="part of the slate not opened"))
