"""The daemon's scheduled work: decision, manage, reconcile, health and end-of-day jobs.

Each job is a coroutine run by APScheduler's ``AsyncIOScheduler`` through :meth:`Jobs.guarded`,
which turns any exception into a recorded ``job_crash`` event, a captured lesson and an alert,
and lets the loop keep running; :func:`build_scheduler` puts them on the scheduler. Market-hours
gating uses the broker's clock and calendar (``daemon.health.MarketHours``), never the local wall
clock; ``daemon.health.StreamMonitor`` watches the quote stream.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol
from zoneinfo import ZoneInfo

import structlog

from stockbot import drought
from stockbot.broker.errors import BrokerError
from stockbot.daemon.health import Health
from stockbot.daemon.timings import Timings
from stockbot.flags import read_stop
from stockbot.lessons.failure import Failure
from stockbot.sdnotify import SdNotifier
from stockbot.trading.deps import orders_in_flight
from stockbot.trading.port import ExtraJob
from stockbot.trading.riskctx import order_counts

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.base import BaseTrigger

    from stockbot.daemon.runtime import AccountRuntime

log = structlog.get_logger("daemon")
NY = ZoneInfo("America/New_York")
JOB_NAMES = ("decision", "manage", "reconcile", "health", "eod", "catch_up")  # + each strategy's extra jobs


class Lifecycle(Protocol):
    """What the jobs may ask of the running process (``lifecycle.Daemon``)."""

    stopping: bool
    job_tasks: set[asyncio.Task[Any]]
    sd: SdNotifier

    def loop_lag_s(self) -> float: ...
    def scheduler_running(self) -> bool: ...
    def feed_alive(self) -> bool: ...
    def restart_feed(self) -> None: ...


class Jobs:
    """The job bodies of one account, over its ``AccountRuntime``; ``life`` is the process."""

    def __init__(self, runtime: AccountRuntime, life: Lifecycle):
        self.rt = runtime
        self.life = life
        names = (*JOB_NAMES, *(j.name for j in runtime.strategy.extra_jobs(runtime.timings)))
        self.runs: defaultdict[str, int] = defaultdict(int, {name: 0 for name in names})
        self.crashes: defaultdict[str, int] = defaultdict(int, {name: 0 for name in names})
        self.last_decision: str | None = None
        self._keys_refused = False

    def guarded(self, name: str, body: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Wrap a job body: skip while stopping; any exception -> event, lesson, alert; never raise."""
        async def job() -> None:
            if self.life.stopping:
                return
            task = asyncio.current_task()
            assert task is not None  # a job always runs inside a task
            self.life.job_tasks.add(task)
            try:
                await body()
                self.runs[name] += 1
            except Exception as exc:  # noqa: BLE001 - a job must never take the loop down
                await self.crashed(name, exc)
            finally:
                self.life.job_tasks.discard(task)
        job.__name__ = f"job_{name}"
        return job

    async def crashed(self, name: str, exc: Exception) -> None:
        self.crashes[name] += 1
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.error("job.crash", job=name, error=error, exc_info=exc)
        try:
            seq: int | None = self.rt.store.append_event("job_crash", {"job": name, "error": error})
        except Exception as store_exc:  # noqa: BLE001 - still alert and capture
            log.error("job.crash_unrecorded", job=name, error=str(store_exc))
            seq = None
        await self.rt.notifier.alert("job_crash", f"job {name} crashed: {error}; the daemon keeps running")
        await self.rt.notifier.failure(Failure.from_exception(f"daemon.{name}", exc, job=name, event_id=seq))

    # ------------------------------------------------------------------ trading jobs

    async def decision(self) -> None:
        """One decision cycle, only on a trading day while the market is open (broker clock)."""
        d = self.rt
        if not await d.hours.trading_day():
            self._skip("decision", "not a trading day (broker calendar)")
            return
        if d.settings.risk.trading_hours_only and not await d.hours.is_open():
            self._skip("decision", "market closed (broker clock)")
            return
        market_date = (await d.hours.today()).isoformat()
        out = await d.strategy.decide()
        self.last_decision = f"{out.status} at {d.clock.now():%H:%M:%S}Z"
        payload = {"status": out.status, "reason": out.reason[:500], "decision_id": out.decision_id,
                   "qty": getattr(out, "qty", None), "market_date": market_date, "session": market_date}
        if out.consensus is not None:
            payload["votes"] = [{"agent": b.agent, "action": b.action, "error": b.error}
                                for b in out.consensus.ballots]
            payload["enter_votes"], payload["required"] = out.consensus.enter_votes, out.consensus.required_votes
        d.store.append_event("decision_cycle", payload)
        log.info("decision.done", status=out.status, reason=out.reason, decision_id=out.decision_id)
        try:  # "green but not trading": K sessions in a row with entries blocked -> alert naming the rule
            await drought.check(d.store, d.settings.alerts.blocked_sessions, d.notifier.alert)
        except Exception as exc:  # noqa: BLE001 - the alarm must never break the decision job
            log.warning("drought.check_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def catch_up(self) -> None:
        """Once after READY: make the day's decision if its cron time passed while the daemon was
        down (a restart at 11:00 after a 10:45 decision time) and the session is still open.

        APScheduler only schedules a cron job's *next* fire time, so a daemon started after the
        decision time would silently skip the day. The broker's clock says what time it is."""
        d = self.rt
        cron = d.timings.decision_cron
        if not cron or d.timings.decision_every_s:
            return
        clock = await d.hours.clock()
        if not clock.is_open or not await d.hours.trading_day():
            return
        now = clock.ts.astimezone(NY)
        due = missed_fire_time(cron, now)
        if due is None:
            return
        today = now.date().isoformat()
        if any(e.payload.get("market_date") == today for e in d.store.events(kind="decision_cycle")[-20:]):
            return
        d.store.append_event("decision_catch_up", {"market_date": today, "due": due.isoformat(),
                                                   "at": now.isoformat()})
        log.info("decision.catch_up", due=due.isoformat(), now=now.isoformat())
        await self.decision()

    async def manage(self) -> None:
        """Take profit / stop loss / time exits of open condors, in market hours."""
        if not await self.rt.hours.is_open():
            return
        outcomes = await self.rt.strategy.manage()
        if outcomes:
            self.rt.store.append_event("manage_cycle", {"outcomes": [
                {"structure_id": o.structure_id, "action": o.action, "reason": o.reason[:300],
                 "debit": o.debit, "pnl": o.pnl} for o in outcomes]})
            log.info("manage.done", actions=[str(o.action) for o in outcomes])

    async def reconcile(self) -> None:
        """Store vs broker, in market hours (orphans closed, fills booked, externals adopted)."""
        if not await self.rt.hours.is_open():
            return
        report = await self.rt.reconciler.run()
        if not report.clean:
            log.warning("reconcile.findings", orphans=report.orphans, closed=[c.symbol for c in report.closed],
                        errors=report.errors)

    async def eod(self) -> None:
        """After the close on trading days: equity snapshot and a one-line report of the day."""
        d = self.rt
        if not await d.hours.trading_day():
            return
        account = await d.broker.account()
        now = d.clock.now()
        d.store.record_equity(now, account.equity, account.cash)
        _, orders_today = order_counts(d.store.orders(), now)
        report = {"equity": account.equity, "cash": account.cash, "day_pnl": account.equity - account.last_equity,
                  "open_trades": len(d.store.trades(status="open")), "orders_today": orders_today,
                  "orders_in_flight": len(orders_in_flight(d.store)), "job_crashes": dict(self.crashes)}
        d.store.append_event("eod_report", report)
        log.info("eod.report", **{k: str(v) if not isinstance(v, dict) else v for k, v in report.items()})

    # ------------------------------------------------------------------ the strategy's own jobs

    async def extra(self, job: ExtraJob) -> None:
        """A job only this account's strategy has (equity picks, grading, training)."""
        if job.trading_days_only and not await self.rt.hours.trading_day():
            return
        await job.body()

    # ------------------------------------------------------------------ health

    async def health(self) -> Health:
        """WATCHDOG=1 while the loop and the scheduler are alive. The quote stream is reported as a
        degraded state that blocks entries (see ``Health``), never by withholding the watchdog:
        a quiet IEX stream must not get the daemon killed and restart-looped by systemd."""
        d, life = self.rt, self.life
        problems: list[str] = []
        degraded: list[str] = []
        lag = life.loop_lag_s()
        if lag > d.timings.loop_lag_s:
            problems.append(f"event loop late by {lag:.1f}s")
        if not life.scheduler_running():
            problems.append("scheduler not running")
        if not life.feed_alive():
            degraded.append("quote stream thread stopped")
            life.restart_feed()
        try:
            market_open = await d.hours.is_open()
        except BrokerError as exc:  # the broker's trouble is not the daemon's health
            log.warning("health.clock_unavailable", error=str(exc))
            market_open = False
        degraded += await d.stream.check(market_open)
        degraded += await self._keys_check()
        status = self.status_line(market_open, problems, degraded)
        result = Health(not problems, tuple(problems), status, tuple(degraded))
        life.sd.status(status)
        if result.ok:
            life.sd.watchdog()
        else:
            log.warning("health.unhealthy", problems=problems)
        if degraded:
            log.warning("health.degraded", problems=degraded)
        d.health.last = result
        return result

    async def _keys_check(self) -> list[str]:
        """The broker refusing this account's keys mid-run (rotated with ``stockbot refund`` while
        the daemon holds the old ones, or revoked) is a state: recorded, alerted once, reported in
        STATUS and blocking entries. The process stays up; a restart loads the new keys."""
        refused = self.rt.broker.auth_rejected
        if refused and not self._keys_refused:
            self.rt.store.append_event("keys_rejected", {"error": refused})
            await self.rt.notifier.alert("keys_rejected", f"the broker refuses this account's keys ({refused}); "
                                                         "install valid keys with `stockbot refund` and restart "
                                                         "the daemon (systemctl restart stockbot@ID)")
        elif not refused and self._keys_refused:
            self.rt.store.append_event("keys_accepted", {})
        self._keys_refused = bool(refused)
        return [f"broker refuses the keys: {refused}"] if refused else []

    def entry_block(self) -> str | None:
        """Why new entries must wait (the last health check found the daemon degraded), or None."""
        return self.rt.health.entry_block()

    def status_line(self, market_open: bool, problems: list[str], degraded: list[str] | tuple[str, ...] = ()) -> str:
        d = self.rt
        head = "UNHEALTHY: " + "; ".join(problems) if problems else "trading"
        if degraded:
            head += " (DEGRADED: " + "; ".join(degraded) + "; entries blocked)"
        if read_stop(d.account) is not None:
            head += " (STOP flag: halted)"
        market = "market open" if market_open else "market closed"
        decision = f"last decision {self.last_decision}" if self.last_decision else "no decision yet"
        return f"{head}; {market}; {d.stream.summary()}; {decision}; open trades {len(d.store.trades(status='open'))}"

    def _skip(self, job: str, reason: str) -> None:
        log.info(f"{job}.skipped", reason=reason)
        self.rt.store.append_event("decision_skipped", {"reason": reason})


# ---------------------------------------------------------------------- the scheduler


def missed_fire_time(cron: str, now: datetime) -> datetime | None:
    """The last time ``cron`` fired today (New York) at or before ``now``, or None."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone=NY)
    local = now.astimezone(NY)
    t = trigger.get_next_fire_time(None, local.replace(hour=0, minute=0, second=0, microsecond=0))
    last = None
    while t is not None and t <= local and t.date() == local.date():
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return last


def check_crons(t: Timings) -> None:
    """ValueError naming the setting when a cron expression cannot be parsed."""
    from apscheduler.triggers.cron import CronTrigger

    for name, cron in (("SCHEDULE_DECISION_CRON", t.decision_cron), ("SCHEDULE_EOD_CRON", t.eod_cron),
                       ("SCHEDULE_ADVISE_CRON", t.advise_cron), ("SCHEDULE_GRADE_CRON", t.grade_cron),
                       ("SCHEDULE_TRAIN_CRON", t.train_cron)):
        try:
            if cron:
                CronTrigger.from_crontab(cron, timezone=NY)
        except ValueError as exc:
            raise ValueError(f"{name}={cron!r} is not a 5-field cron expression: {exc}") from exc


def build_scheduler(jobs: Jobs, t: Timings) -> AsyncIOScheduler:
    """An ``AsyncIOScheduler`` (America/New_York) with the five jobs, each guarded, at most one
    instance at a time, coalesced, with a misfire grace; not started."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    sched = AsyncIOScheduler(timezone=NY, job_defaults={"max_instances": 1, "coalesce": True})
    now = jobs.rt.clock.now().astimezone(NY)

    def add(name: str, cron: str | None, every_s: float | None, start: datetime | None = None) -> None:
        if every_s:
            trigger: BaseTrigger = IntervalTrigger(seconds=every_s, timezone=NY)
        elif cron:
            trigger = CronTrigger.from_crontab(cron, timezone=NY)
        else:
            return
        kwargs = {"next_run_time": start} if start is not None else {}
        sched.add_job(jobs.guarded(name, getattr(jobs, name)), trigger, id=name, name=name, max_instances=1,
                      coalesce=True, misfire_grace_time=t.misfire_grace_s(every_s), **kwargs)

    first = now + timedelta(seconds=t.first_run_after_s) if t.first_run_after_s is not None else None
    add("decision", t.decision_cron, t.decision_every_s, first)
    if t.decision_cron and not t.decision_every_s:  # the day's decision, if its time passed while down
        sched.add_job(jobs.guarded("catch_up", jobs.catch_up), "date", run_date=now + timedelta(seconds=1),
                      id="catch_up", name="catch_up", misfire_grace_time=3600)
    add("manage", None, t.manage_every_s)
    add("reconcile", None, t.reconcile_every_s)
    add("health", None, t.health_every_s, now)
    add("eod", t.eod_cron, t.eod_every_s)
    def run_extra(extra: ExtraJob) -> Callable[[], Awaitable[None]]:
        return lambda: jobs.extra(extra)

    for extra in jobs.rt.strategy.extra_jobs(t):
        body = jobs.guarded(extra.name, run_extra(extra))
        if extra.once:  # e.g. a fresh equity account's first model: minutes of work, so after READY
            sched.add_job(body, "date", run_date=now + timedelta(seconds=1), id=extra.name, name=extra.name)
        elif extra.cron:
            sched.add_job(body, CronTrigger.from_crontab(extra.cron, timezone=NY), id=extra.name, name=extra.name,
                          max_instances=1, coalesce=True, misfire_grace_time=t.misfire_grace_s(None))
    return sched
