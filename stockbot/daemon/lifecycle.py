"""Composition root of one account's daemon (``stockbot run [--account ID]``).

Start-up order, each step logged and shown in ``systemctl status`` (STATUS=):
settings -> logging (secrets registered for redaction) -> ``STOCKBOT_ACCOUNT`` exported -> keys
required -> state store -> broker check (account read) -> lessons (files, index drift check) and
capture -> start-up reconciliation, which must succeed -> scheduler + quote stream -> READY=1.

A start-up that cannot reach a known state refuses: it logs the reason, records a
``startup_refused`` event, alerts, and exits non-zero (2 for an operator error such as keys the
broker refuses, which systemd must not retry; 3 otherwise, which it retries with its limits).

Stop (SIGTERM/SIGINT): no new jobs, wait (bounded) for the order in flight by taking the
engine's lock, cancel what is left, stop the stream, record ``daemon_stop``, exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any

import structlog

from stockbot.clock import REAL_CLOCK, Clock
from stockbot.config import Settings
from stockbot.daemon import runtime
from stockbot.daemon.health import Health, HealthState, LoopWatch
from stockbot.daemon.jobs import NY, Jobs, build_scheduler, check_crons
from stockbot.daemon.refusal import EXIT_CONFIG, EXIT_OK, StartupRefused, record_refusal
from stockbot.daemon.timings import Timings
from stockbot.flags import read_stop
from stockbot.sdnotify import SdNotifier
from stockbot.store import Store, StoreError, StoreLocked
from stockbot.trading.deps import Notifier, orders_in_flight

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from stockbot.alerts import Alerter
    from stockbot.broker.stream import QuoteFeed
    from stockbot.daemon.health import MarketHours, StreamMonitor
    from stockbot.daemon.runtime import AccountRuntime
    from stockbot.lessons.capture import CaptureResult, LessonCapture
    from stockbot.lessons.failure import Failure
    from stockbot.lessons.service import LessonService
    from stockbot.llm_server import LocalServer
    from stockbot.metrics import MetricsServer
    from stockbot.domain import Quote
    from stockbot.trading.port import Broker, Strategy

log = structlog.get_logger("daemon")
class Daemon:
    """One account's process: start-up in order (each step may refuse), the scheduler and the
    quote stream, and a graceful stop. The collaborators come from ``runtime`` (the composition
    root); ``alerter``, ``sd`` and ``clock`` may be injected (tests, the demo, a replay)."""

    def __init__(self, settings: Settings, *, timings: Timings | None = None, sd: SdNotifier | None = None,
                 alerter: Alerter | None = None, broker_kwargs: dict[str, Any] | None = None,
                 clock: Clock = REAL_CLOCK):
        self.settings = settings
        self.account = settings.account
        self.clock = clock
        self.timings = timings or Timings.from_settings(settings.schedule)
        self.sd = sd or SdNotifier()
        self.alerter = alerter
        self._broker_kwargs = broker_kwargs or {}
        self.job_tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.started = False
        self.stop_reason = ""
        self.health = HealthState()
        self._stop_event = asyncio.Event()
        self._signals: tuple[signal.Signals, ...] = ()
        self._stopped = False
        self.loop_watch = LoopWatch()
        self._feed_restarts = 0
        self._captures: set[asyncio.Future[CaptureResult | None]] = set()
        # Opened one by one during start-up (a refusal closes what is open); then ``rt`` has them all.
        self.store: Store | None = None
        self.broker: Broker | None = None
        self.lessons: LessonService | None = None
        self.capture: LessonCapture | None = None
        self.rt: AccountRuntime | None = None
        self.jobs: Jobs | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.feed: QuoteFeed | None = None
        self.llm_server: LocalServer | None = None  # the local llama.cpp server when LLM_SERVE=true
        self.notifier = Notifier()
        self.metrics: MetricsServer | None = None  # while METRICS_PORT is set

    @property
    def last_health(self) -> Health | None:
        return self.health.last

    @property
    def hours(self) -> MarketHours | None:
        return None if self.rt is None else self.rt.hours

    @property
    def stream(self) -> StreamMonitor | None:
        return None if self.rt is None else self.rt.stream

    @property
    def strategy(self) -> Strategy | None:
        return None if self.rt is None else self.rt.strategy

    # ------------------------------------------------------------------ start-up

    async def start(self) -> None:
        """Everything up to READY=1. Raises StartupRefused (after recording and alerting it)."""
        try:
            await self._start()
        except StartupRefused as exc:
            await self._refuse(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - an unexpected fault at start-up is a refusal too
            refused = StartupRefused(f"unexpected error during start-up: {type(exc).__name__}: {exc}")
            log.error("daemon.startup_error", exc_info=exc)
            await self._refuse(refused)
            raise refused from exc

    async def _start(self) -> None:
        from stockbot.broker.errors import BrokerError, RejectedError

        s = self.settings
        self._check_schedule()
        self._status("opening the state store")
        try:
            store = runtime.open_store(self.account)
            try:
                store.append_event("daemon_start", {"strategy": s.strategy, "paper": s.alpaca.paper,
                                                    "pid": os.getpid()})
            except StoreError:
                store.close()
                raise
        except StoreLocked as exc:  # another process holds it: may clear, systemd may retry
            raise StartupRefused(f"state database busy: {exc}") from exc
        except StoreError as exc:  # damaged or too new: retrying cannot help, an operator must act
            raise StartupRefused(f"state database unusable: {exc}", EXIT_CONFIG) from exc
        # Only a store that took a write is kept: the refusal path must not wait on a locked one again.
        self.store = store
        self.alerter = self.alerter or runtime.open_alerter(s)
        self.notifier = Notifier(alerter=self.alerter)
        self._status("checking the broker account")
        self.broker = broker = runtime.open_broker(s, **self._broker_kwargs)
        try:
            account = await broker.account()
        except RejectedError as exc:
            if exc.status in (401, 403):
                raise StartupRefused(f"the broker refused this account's keys ({exc}): fix ALPACA_API_KEY / "
                                     "ALPACA_SECRET_KEY", EXIT_CONFIG) from exc
            raise StartupRefused(f"cannot read the broker account: {exc}") from exc
        except BrokerError as exc:
            raise StartupRefused(f"cannot read the broker account: {exc}") from exc
        if account.trading_blocked or account.account_blocked:
            raise StartupRefused(f"broker account {account.account_number} is blocked (status {account.status})")
        from stockbot.preflight import strategy_refusal

        cannot = strategy_refusal(s, account)
        if cannot is not None:  # every order would be rejected: an operator must act, systemd must not retry
            raise StartupRefused(cannot, EXIT_CONFIG)
        store.record_equity(self.clock.now(), account.equity, account.cash)
        log.info("daemon.broker_ok", account_number=account.account_number, equity=str(account.equity))
        await self._warn_live_override()
        self._status("loading lessons and checking the index")
        await self._open_lessons()
        if s.llm.serve:  # before the agents: a local agent's first vote needs the server up
            from stockbot.llm_server import start_for_daemon

            self._status("starting the local LLM server")
            self.llm_server = await start_for_daemon(s.llm, self.store, self.notifier)
        rt = self._compose()
        self._status("reconciling with the broker")
        await self._reconcile_startup(rt)
        scheduler = self._start_scheduler(rt)
        self._start_stream(rt)
        from stockbot.trading.trade_updates import attach_trade_updates

        self.trade_updates = attach_trade_updates(rt, asyncio.get_running_loop())  # polling stays the fallback
        self._start_metrics()
        self.loop_watch.start()
        self.started = True
        jobs = [j.id for j in scheduler.get_jobs()]
        rt.store.append_event("daemon_ready", {"jobs": jobs, "symbols": rt.stream.symbols})
        self.sd.ready(f"ready: trading {rt.strategy.describe()}; reconciled with the broker")
        log.info("daemon.ready", jobs=jobs, notify=self.sd.enabled)
        interval = self.sd.watchdog_interval_s
        if interval is not None and self.timings.health_every_s > interval / 2:
            log.warning("daemon.watchdog_tight", watchdog_s=interval, health_every_s=self.timings.health_every_s)

    async def _warn_live_override(self) -> None:
        """A live account trading under VALIDATION_LIVE_OVERRIDE is announced at every start."""
        from stockbot.trading.riskctx import validation_state

        s = self.settings
        if s.alpaca.paper or not s.validation.live_override:
            return
        assert self.store is not None
        state = validation_state(s, self.store, self.clock.now().date())
        if state.reason.startswith("OVERRIDE"):
            log.error("daemon.live_override", reason=state.reason)
            self.store.append_event("live_override_active", {"reason": state.reason[:300]})
            await self.notifier.alert("live_override", f"starting LIVE with VALIDATION_LIVE_OVERRIDE: {state.reason}")

    async def _open_lessons(self) -> None:
        assert self.store is not None
        try:
            self.lessons = lessons = await asyncio.to_thread(runtime.open_lessons, self.settings)
            report = await asyncio.to_thread(lessons.startup)
        except Exception as exc:  # noqa: BLE001 - guards unreadable = fail closed
            raise StartupRefused(f"cannot open the lessons (guards and index): {type(exc).__name__}: {exc}") from exc
        if report.errors:  # the valid lessons still load and enforce their guards
            await self.notifier.alert("lessons_invalid", f"{len(report.errors)} lesson file(s) invalid (ignored "
                                                         f"until fixed): {report.errors[0]}")
        self.store.append_event("lessons_loaded", {"lessons": report.lessons, "errors": list(report.errors),
                                                   "drift_repaired": not report.drift.clean})
        self.capture = runtime.open_capture(self.settings, self.store, lessons)
        self.notifier = Notifier(capture=self._capture, alerter=self.alerter)

    async def _capture(self, failure: Failure) -> CaptureResult | None:
        """Capture in a worker thread, shielded: a job cancelled at stop still gets its lesson
        written (``stop`` waits for pending captures before it closes the store)."""
        assert self.capture is not None
        future = asyncio.ensure_future(asyncio.to_thread(self.capture.capture, failure))
        self._captures.add(future)
        future.add_done_callback(self._captures.discard)
        return await asyncio.shield(future)

    def _compose(self) -> AccountRuntime:
        assert self.store is not None and self.broker is not None and self.lessons is not None
        assert self.alerter is not None
        self.rt = runtime.compose(self.settings, timings=self.timings, store=self.store, broker=self.broker,
                                  lessons=self.lessons, capture=self._capture, alerter=self.alerter,
                                  notifier=self.notifier, health=self.health, clock=self.clock)
        self.jobs = Jobs(self.rt, self)
        return self.rt

    async def _reconcile_startup(self, rt: AccountRuntime) -> None:
        from stockbot.broker.errors import BrokerError
        from stockbot.trading.reconciler import ReconcileError

        try:
            report = await rt.reconciler.run(startup=True)
        except (ReconcileError, BrokerError) as exc:
            raise StartupRefused(f"start-up reconciliation failed: {exc}") from exc
        if report.errors:
            raise StartupRefused(f"start-up reconciliation left errors: {'; '.join(report.errors)}")
        rt.store.append_event("startup_reconciled", {"clean": report.clean, "orphans": list(report.orphans),
                                                       "resolved": list(report.resolved)})

    async def _refuse(self, exc: StartupRefused) -> None:
        log.error("daemon.startup_refused", reason=exc.reason, exit_code=exc.exit_code)
        self.sd.status(f"refused to start: {exc.reason}")
        if self.store is not None:
            try:
                self.store.append_event("startup_refused", {"reason": exc.reason, "exit_code": exc.exit_code})
            except Exception as store_exc:  # noqa: BLE001 - the alert still goes out
                log.error("daemon.refusal_unrecorded", error=str(store_exc))
        alerter = self.alerter or runtime.open_alerter(self.settings)
        await Notifier(alerter=alerter).alert("startup_refused", exc.reason)
        await asyncio.to_thread(record_refusal, self.account, exc.reason, exc.exit_code, capture=self.capture,
                                store=self.store, settings=self.settings.lessons)
        if self.scheduler is not None:  # a failure after the jobs started: take them down again
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self.feed is not None:
            await asyncio.to_thread(self.feed.stop)
        if getattr(self, "trade_updates", None) is not None:
            await self.trade_updates.stop()
        self.loop_watch.stop()
        self._stop_metrics()
        await self._close_resources()

    # ------------------------------------------------------------------ scheduler and stream

    def _check_schedule(self) -> None:
        """A cron the scheduler cannot parse is an operator error: refuse before touching the broker."""
        try:
            check_crons(self.timings)
        except ValueError as exc:
            raise StartupRefused(str(exc), EXIT_CONFIG) from exc

    def _start_scheduler(self, rt: AccountRuntime) -> AsyncIOScheduler:
        assert self.jobs is not None
        self.scheduler = scheduler = build_scheduler(self.jobs, self.timings)
        scheduler.start()
        return scheduler

    def _start_stream(self, rt: AccountRuntime) -> None:
        from stockbot.broker.stream import QuoteFeed

        self.feed = QuoteFeed(self.settings.alpaca, rt.stream.symbols, asyncio.get_running_loop(),
                              self._on_quote, rt.stream.on_event)
        self.feed.start()

    def _start_metrics(self) -> None:
        """The Prometheus endpoint (METRICS_PORT); a refused address or a taken port refuses start-up."""
        from stockbot.metrics import MetricsError, start_for

        try:
            self.metrics = start_for(self)
        except MetricsError as exc:
            raise StartupRefused(str(exc), EXIT_CONFIG) from exc
        except OSError as exc:
            raise StartupRefused(f"cannot serve metrics on port {self.settings.metrics.port}: {exc}") from exc
        if self.metrics is not None:
            log.info("daemon.metrics", url=self.metrics.url)

    def _stop_metrics(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None

    def _on_quote(self, quote: Quote) -> None:
        """Every streamed quote: freshness first, then the strategy may ask for management now."""
        rt = self.rt
        if rt is None:
            return
        rt.stream.on_quote(quote)
        try:
            wanted = rt.strategy.on_quote(quote)
        except Exception as exc:  # noqa: BLE001 - a quote must never break the stream; the interval still manages
            log.warning("daemon.quote_trigger_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            return
        if wanted and self.trigger("manage"):
            rt.store.append_event("manage_triggered", {"symbol": quote.symbol, "bid": quote.bid, "ask": quote.ask,
                                                       "quote_ts": quote.ts.isoformat()})
            log.info("manage.triggered", symbol=quote.symbol, mid=str(quote.mid))

    def restart_feed(self) -> None:
        """Replace a stream thread that ended (the health job calls this; READY is not repeated)."""
        if self.stopping or self.feed is None or self.feed.alive() or self.rt is None:
            return
        self._feed_restarts += 1
        self.rt.store.append_event("stream_restarted", {"restarts": self._feed_restarts})
        self._start_stream(self.rt)

    def feed_alive(self) -> bool:
        return self.feed is not None and self.feed.alive()

    def scheduler_running(self) -> bool:
        from apscheduler.schedulers.base import STATE_RUNNING

        return self.scheduler is not None and self.scheduler.state == STATE_RUNNING

    def halted(self) -> bool:
        return read_stop(self.account) is not None

    def loop_lag_s(self) -> float:
        return self.loop_watch.lag_s()

    def trigger(self, job: str) -> bool:
        """Run ``job`` now through the scheduler (same guard, same max_instances); False if unknown."""
        if self.scheduler is None or self.stopping or self.scheduler.get_job(job) is None:
            return False
        self.scheduler.modify_job(job, next_run_time=self.clock.now().astimezone(NY))
        return True

    # ------------------------------------------------------------------ running and stopping

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the daemon to stop (signal handlers, the demo's timer). Safe to call repeatedly."""
        if not self._stop_event.is_set():
            self.stop_reason = reason
            log.info("daemon.stop_requested", reason=reason)
            self._stop_event.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> ``request_stop`` (installed before start-up, so a stop during start-up
        is graceful too: the daemon stops as soon as it has reached a known state)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        self._signals = (signal.SIGTERM, signal.SIGINT)

    def remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals = ()

    async def run_until_stopped(self) -> int:
        """Serve until ``request_stop`` (a signal, a timer), then stop cleanly; returns 0."""
        try:
            await self._stop_event.wait()
        finally:
            await self.stop()
        return EXIT_OK

    async def stop(self) -> None:
        """Graceful stop, bounded by ``timings.stop_timeout_s`` for the order in flight."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping = True
        began = self.clock.monotonic()
        self.sd.stopping(f"stopping ({self.stop_reason or 'requested'}): finishing the order in flight")
        if self.scheduler is not None:
            self.scheduler.pause()  # nothing new starts from here on
        held = await self._take_engine_lock()
        waited = round(self.clock.monotonic() - began, 2)
        leftover = [t for t in self.job_tasks if t is not asyncio.current_task() and not t.done()]
        if leftover:  # a moment to finish on their own, then cancel: none of them owns an order now
            _, pending = await asyncio.wait(leftover, timeout=1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self.scheduler is not None:
            # Only now: APScheduler's asyncio executor cancels every running job on shutdown,
            # which would cut a ladder short instead of letting its order finish.
            self.scheduler.shutdown(wait=False)
        if self._captures:  # lessons being written: let them land before the store closes
            await asyncio.wait(list(self._captures), timeout=10)
        in_flight = [o.client_order_id for o in orders_in_flight(self.store)] if self.store is not None else []
        if self.feed is not None:
            await asyncio.to_thread(self.feed.stop)
        if getattr(self, "trade_updates", None) is not None:
            await self.trade_updates.stop()
        self.loop_watch.stop()
        if self.store is not None:
            self.store.append_event("daemon_stop", {"reason": self.stop_reason or "requested", "waited_s": waited,
                                                    "order_lock_taken": held, "orders_in_flight": in_flight,
                                                    "cancelled_jobs": len(leftover)})
        log.info("daemon.stopped", reason=self.stop_reason, waited_s=waited, orders_in_flight=in_flight)
        self._stop_metrics()
        await self._close_resources()
        if held and self.rt is not None:
            self.rt.strategy.lock.release()

    async def _take_engine_lock(self) -> bool:
        """Wait for the strategy's lock: an entry ladder or a close in progress finishes first."""
        if self.rt is None:
            return False
        try:
            await asyncio.wait_for(self.rt.strategy.lock.acquire(), timeout=self.timings.stop_timeout_s)
            return True
        except asyncio.TimeoutError:
            log.error("daemon.stop_order_still_in_flight", timeout_s=self.timings.stop_timeout_s,
                      detail="stopping anyway; the next start-up reconciliation resolves it by client order id")
            return False

    async def _close_resources(self) -> None:
        if self.llm_server is not None:
            await asyncio.to_thread(self.llm_server.stop)
            self.llm_server = None
        if self.lessons is not None:
            try:
                await asyncio.to_thread(self.lessons.close)
            except Exception as exc:  # noqa: BLE001 - closing must not hide the stop
                log.warning("daemon.lessons_close_failed", error=str(exc))
            self.lessons = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def _status(self, text: str) -> None:
        log.info("daemon.startup", step=text)
        self.sd.status(f"starting: {text}")
