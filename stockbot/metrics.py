"""Prometheus metrics of one account's daemon (``METRICS_PORT``; off by default, loopback only).

Every value is computed at scrape time: from the account's ``state.db`` (opened read-only, one
short connection per scrape, aggregated in SQL) and from the daemon's live objects (stream ages,
job counters, alert counters). Nothing is counted twice in memory, so the endpoint cannot drift
from what the store says, and a restart does not lose history: counters are store totals.

Each daemon has its own ``CollectorRegistry`` (never the process-global default one), so two
daemons in one process (tests, the demo) never mix their figures. Labels carry codes (agent
names, rules, purposes, statuses), never free text: no secret or message can reach a scrape.
Every series carries an ``account`` label (the account id, ``default`` for the default account).
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from stockbot.errors import StockbotError
from stockbot.config import MetricsSettings, RiskSettings, account_paths
from stockbot.dashboard import metrics as figures
from stockbot.domain import utcnow
from stockbot.flags import read_stop
from stockbot.options.dates import days_to_expiration
from stockbot.options.occ import parse_occ
from stockbot.status import FINAL_ORDER_STATES

STATES = ("ACTIVE", "REDUCING", "HALTED", "UNKNOWN")
# Days-to-expiry buckets of open structures (upper bounds; the condor engine enters at 14-50 DTE).
DTE_BUCKETS = ((7, "0-7"), (14, "8-14"), (21, "15-21"), (30, "22-30"), (45, "31-45"), (10**6, "46+"))
FINDINGS = ("resolved", "unresolved", "booked", "closed", "closed_structures", "adopted", "orphans", "errors")


class MetricsError(StockbotError):
    """The endpoint cannot be served as configured (an address that is not loopback).

    Caller: operator fix.
    """


def check_bind(settings: MetricsSettings) -> str:
    """The address to bind: loopback, or anything when ``METRICS_ALLOW_REMOTE`` says so."""
    host = "127.0.0.1" if settings.host == "localhost" else settings.host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise MetricsError(f"METRICS_HOST={settings.host!r} is not an IP address") from None
    if not loopback and not settings.allow_remote:
        raise MetricsError(f"refusing to serve metrics on {host}: loopback only unless METRICS_ALLOW_REMOTE=true "
                           "(the figures are private; scrape through an SSH tunnel or a local Prometheus)")
    return host


def dte_bucket(days: int | None) -> str:
    if days is None:
        return "none"
    return next(name for bound, name in DTE_BUCKETS if days <= bound)


def structure_dte(legs: list[Any], now: datetime) -> int | None:
    """Days to the nearest expiry among a structure's option legs (None: no option legs)."""
    days = []
    for leg in legs or []:
        sym = leg.get("symbol") if isinstance(leg, dict) else None
        try:
            days.append(days_to_expiration(parse_occ(str(sym)).expiration, now))
        except ValueError:
            continue  # a stock leg (equity slates) has no expiry
    return min(days) if days else None


def _ro(db: Path) -> sqlite3.Connection:
    """Read-only connection: the daemon holds the WAL, so ``mode=ro`` creates no file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn


class StoreCollector(Collector):
    """Collects one account's figures; ``daemon`` (optional) adds live state."""

    def __init__(self, account: str | None, *, strategy: str = "condor", risk: RiskSettings | None = None,
                 daemon: Any = None, now: Callable[[], datetime] = utcnow):
        self.account = account
        self.strategy = strategy
        self.risk = risk or RiskSettings()
        self.daemon = daemon
        self.now = now
        self.db = account_paths(account)["state_db"]

    def describe(self) -> list:
        return []  # names are dynamic; registering must not run a scrape

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("stockbot_store_readable", "1 when this scrape could read the state database")
        try:
            with closing(_ro(self.db)) as conn:
                families = list(self._from_store(conn))
            up.add_metric([], 1)
        except (sqlite3.Error, OSError, ValueError):
            families = []
            up.add_metric([], 0)
        # Every series carries the account id, so a scrape without target labels still says whose it is.
        for family in (up, *families, *self._live()):
            family.samples = [x._replace(labels={"account": self.account or "default", **x.labels})
                              for x in family.samples]
            yield family

    # ------------------------------------------------------------------ from the store

    def _from_store(self, conn: sqlite3.Connection) -> Iterator[Any]:
        q = conn.execute
        now = self.now()
        info = GaugeMetricFamily("stockbot_info", "the account this endpoint describes", labels=["strategy"])
        info.add_metric([self.strategy], 1)
        yield info

        dec = CounterMetricFamily("stockbot_decisions", "decisions recorded, by consensus action", labels=["action"])
        for action, n in q("SELECT action, COUNT(*) FROM decisions GROUP BY action"):
            dec.add_metric([action], n)
        yield dec
        cyc = CounterMetricFamily("stockbot_decision_cycles", "decision cycles, by outcome", labels=["outcome"])
        for outcome, n in q("SELECT COALESCE(json_extract(payload, '$.status'), 'unknown'), COUNT(*) FROM events "
                            "WHERE kind = 'decision_cycle' GROUP BY 1"):
            cyc.add_metric([str(outcome)], n)
        yield cyc

        votes = CounterMetricFamily("stockbot_votes", "agent votes, by agent, action and result",
                                    labels=["agent", "action", "result"])
        errors = CounterMetricFamily("stockbot_agent_errors", "votes that failed (timeout, invalid answer)",
                                     labels=["agent"])
        latency = SummaryMetricFamily("stockbot_agent_latency_seconds", "time each agent took to vote",
                                      labels=["agent"])
        cost = CounterMetricFamily("stockbot_llm_cost_usd", "LLM spend reported by litellm", labels=["agent", "model"])
        tokens = CounterMetricFamily("stockbot_llm_tokens", "LLM tokens", labels=["agent", "kind"])
        err_by: dict[str, int] = {}
        for agent, action, failed, n in q("SELECT agent, action, error IS NOT NULL, COUNT(*) FROM votes "
                                          "GROUP BY agent, action, error IS NOT NULL"):
            votes.add_metric([agent, action, "error" if failed else "ok"], n)
            if failed:
                err_by[agent] = err_by.get(agent, 0) + n
        for agent, n in sorted(err_by.items()):
            errors.add_metric([agent], n)
        for agent, n, total in q("SELECT agent, COUNT(*), COALESCE(SUM(latency_s), 0) FROM votes GROUP BY agent"):
            latency.add_metric([agent], count_value=n, sum_value=total)
        for agent, model, usd in q("SELECT agent, model, COALESCE(SUM(cost_usd), 0) FROM votes GROUP BY agent, model"):
            cost.add_metric([agent, model], usd)
        for agent, pt, ct in q("SELECT agent, COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) "
                               "FROM votes GROUP BY agent"):
            tokens.add_metric([agent, "prompt"], pt)
            tokens.add_metric([agent, "completion"], ct)
        yield from (votes, errors, latency, cost, tokens)

        # Final statuses never change, so their counts only grow (a counter); the others move on.
        orders = CounterMetricFamily("stockbot_orders", "orders in a final status, by purpose and status",
                                     labels=["purpose", "status"])
        working = GaugeMetricFamily("stockbot_orders_working", "orders not final yet, by purpose and status",
                                    labels=["purpose", "status"])
        for purpose, status, n in q("SELECT purpose, status, COUNT(*) FROM orders GROUP BY purpose, status"):
            (orders if status in FINAL_ORDER_STATES else working).add_metric([purpose or "none", status], n)
        fills = CounterMetricFamily("stockbot_fills", "orders with a (partial) fill, by purpose", labels=["purpose"])
        for purpose, n in q("SELECT purpose, COUNT(*) FROM orders WHERE CAST(COALESCE(filled_qty, '0') AS REAL) > 0 "
                            "GROUP BY purpose"):
            fills.add_metric([purpose or "none"], n)
        yield from (orders, working, fills)

        denials = CounterMetricFamily("stockbot_order_denials", "orders the risk gate denied, by rule", labels=["rule"])
        guards = CounterMetricFamily("stockbot_guard_denials", "orders a lesson guard denied, by lesson",
                                     labels=["lesson"])
        for rule, n in q("SELECT COALESCE(json_extract(payload, '$.rule'), 'unknown'), COUNT(*) FROM events "
                         "WHERE kind = 'order_denied' GROUP BY 1"):
            denials.add_metric([str(rule)], n)
            if str(rule).startswith("lesson:"):
                guards.add_metric([str(rule)[len("lesson:"):]], n)
        yield from (denials, guards)

        yield from self._trades(q, now)
        yield from self._equity(q, now)
        yield from self._events(q)

    def _trades(self, q: Callable, now: datetime) -> Iterator[Any]:
        open_ = GaugeMetricFamily("stockbot_open_structures", "open structures, by days to the nearest expiry",
                                  labels=["days_to_expiry"])
        counts = {name: 0 for _, name in DTE_BUCKETS} | {"none": 0}
        for (legs,) in q("SELECT legs FROM trades WHERE status = 'open'"):
            counts[dte_bucket(structure_dte(json.loads(legs or "[]"), now))] += 1
        for name, n in counts.items():
            open_.add_metric([name], n)
        closed = CounterMetricFamily("stockbot_closed_trades", "closed trades")
        realised = GaugeMetricFamily("stockbot_realised_pnl_dollars", "sum of closed trades' P&L")
        total, n = Decimal(0), 0
        for (pnl,) in q("SELECT pnl FROM trades WHERE status = 'closed'"):
            n += 1
            total += Decimal(pnl) if pnl not in (None, "") else Decimal(0)
        closed.add_metric([], n)
        realised.add_metric([], float(total))
        yield from (open_, closed, realised)

    def _equity(self, q: Callable, now: datetime) -> Iterator[Any]:
        curve = [(datetime.fromisoformat(ts), Decimal(eq)) for ts, eq in q("SELECT ts, equity FROM equity ORDER BY ts")]
        fig = figures.equity_figures(curve, now)
        stop = read_stop(self.account) is not None
        (out_seq,) = q("SELECT MAX(seq) FROM events WHERE kind = ?", (figures.OUT_OF_CAPITAL,)).fetchone()
        (back_seq,) = q("SELECT MAX(seq) FROM events WHERE kind = ?", (figures.CAPITAL_RESTORED,)).fetchone()
        out_of_capital = out_seq is not None and (back_seq is None or back_seq < out_seq)
        state, _ = figures.trading_state(self.risk, stop=stop, figures=fig, out_of_capital=out_of_capital)
        for name, doc, value in (
                ("stockbot_equity_dollars", "latest recorded account equity", fig.latest),
                ("stockbot_day_pnl_dollars", "equity change since the New York day began", fig.pnl_today),
                ("stockbot_drawdown_ratio", "current drawdown from the equity peak (0 at a high, -0.1 = 10% below)",
                 fig.drawdown[-1][1] if fig.drawdown else None),
                ("stockbot_max_drawdown_ratio", "worst drawdown of the recorded curve",
                 fig.max_drawdown if curve else None)):
            if value is not None:
                g = GaugeMetricFamily(name, doc)
                g.add_metric([], float(value))
                yield g
        st = GaugeMetricFamily("stockbot_trading_state", "1 for the account's trading state", labels=["state"])
        for s in STATES:
            st.add_metric([s], 1 if state.value == s else 0)
        yield st
        flag = GaugeMetricFamily("stockbot_stop_flag", "1 while the STOP flag is set")
        flag.add_metric([], 1 if stop else 0)
        oc = GaugeMetricFamily("stockbot_out_of_capital", "1 while the account is out of capital")
        oc.add_metric([], 1 if out_of_capital else 0)
        yield from (flag, oc)

    def _events(self, q: Callable) -> Iterator[Any]:
        lessons = CounterMetricFamily("stockbot_lessons_captured", "failures captured as lessons, by kind",
                                      labels=["kind"])
        for kind, n in q("SELECT COALESCE(json_extract(payload, '$.kind'), 'unknown'), COUNT(*) FROM events "
                         "WHERE kind = 'lesson_captured' GROUP BY 1"):
            lessons.add_metric([str(kind)], n)
        yield lessons
        runs = CounterMetricFamily("stockbot_reconcile_runs", "reconciliations that found something to do")
        findings = CounterMetricFamily("stockbot_reconcile_findings", "what reconciliation found, by kind",
                                       labels=["kind"])
        totals = {k: 0 for k in FINDINGS}
        n = 0
        for (payload,) in q("SELECT payload FROM events WHERE kind = 'reconciled'"):
            n += 1
            body = json.loads(payload)
            for k in FINDINGS:
                v = body.get(k)
                totals[k] += len(v) if isinstance(v, (list, dict)) else int(bool(v))
        runs.add_metric([], n)
        for k, v in totals.items():
            findings.add_metric([k], v)
        crashes = CounterMetricFamily("stockbot_job_crash_events", "job crashes recorded in the store, by job",
                                      labels=["job"])
        for job, c in q("SELECT COALESCE(json_extract(payload, '$.job'), 'unknown'), COUNT(*) FROM events "
                        "WHERE kind = 'job_crash' GROUP BY 1"):
            crashes.add_metric([str(job)], c)
        stream = GaugeMetricFamily("stockbot_stream_fresh", "quote stream by its latest event: 1 fresh, 0 stale, "
                                                            "-1 unknown")
        row = q("SELECT kind FROM events WHERE kind IN (%s) ORDER BY seq DESC LIMIT 1"
                % ",".join("?" * len(figures.STREAM_GOOD + figures.STREAM_BAD)),
                figures.STREAM_GOOD + figures.STREAM_BAD).fetchone()
        stream.add_metric([], -1 if row is None else (1 if row[0] in figures.STREAM_GOOD else 0))
        yield from (runs, findings, crashes, stream)

    # ------------------------------------------------------------------ live daemon state

    def _live(self) -> Iterator[Any]:
        d = self.daemon
        if d is None:
            return
        ready = GaugeMetricFamily("stockbot_daemon_ready", "1 once READY=1 was sent and until the stop began")
        ready.add_metric([], 1 if d.started and not d.stopping else 0)
        yield ready
        jobs = getattr(d, "jobs", None)
        if jobs is not None:
            runs = CounterMetricFamily("stockbot_job_runs", "job runs since this daemon started", labels=["job"])
            crashes = CounterMetricFamily("stockbot_job_crashes", "job crashes since this daemon started",
                                          labels=["job"])
            for name, n in sorted(dict(jobs.runs).items()):
                runs.add_metric([name], n)
            for name, n in sorted(dict(jobs.crashes).items()):
                crashes.add_metric([name], n)
            yield from (runs, crashes)
        stream = getattr(d, "stream", None)
        if stream is not None:
            age = GaugeMetricFamily("stockbot_stream_quote_age_seconds", "seconds since the last quote, by symbol",
                                    labels=["symbol"])
            for sym, secs in sorted(stream.ages().items()):
                age.add_metric([sym], secs)
            alive = GaugeMetricFamily("stockbot_stream_alive", "1 while the quote stream thread runs")
            alive.add_metric([], 1 if d.feed_alive() else 0)
            yield from (age, alive)
        strategy = getattr(d, "strategy", None)
        gate = None if strategy is None else strategy.deps.gate
        if gate is not None:
            active = GaugeMetricFamily("stockbot_guards_active", "lesson guards the risk gate enforces")
            active.add_metric([], len(gate.guards))
            yield active
        counts = getattr(getattr(d, "alerter", None), "counts", None)
        if isinstance(counts, dict):
            alerts = CounterMetricFamily("stockbot_alerts", "alerts since this daemon started, by kind and result",
                                         labels=["kind", "result"])
            for (kind, result), n in sorted(counts.items()):
                alerts.add_metric([kind, result], n)
            yield alerts


class MetricsServer:
    """The endpoint of one daemon: its own registry and HTTP server thread."""

    def __init__(self, collector: StoreCollector, settings: MetricsSettings):
        self.host = check_bind(settings)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self.settings = settings
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the scrape URL."""
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(self.settings.port or 0, addr=self.host,
                                                       registry=self.registry)
        return self.url

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start_for(daemon: Any) -> MetricsServer | None:
    """The daemon's endpoint when ``METRICS_PORT`` is set (None otherwise). MetricsError if refused."""
    s = daemon.settings
    if s.metrics.port is None:
        return None
    server = MetricsServer(StoreCollector(daemon.account, strategy=s.strategy, risk=s.risk, daemon=daemon), s.metrics)
    server.start()
    return server


__all__ = ["MetricsError", "MetricsServer", "StoreCollector", "check_bind", "dte_bucket", "start_for"]
