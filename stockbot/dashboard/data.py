"""Read-only collection of everything one account's dashboard tab shows.

Sources, all read-only: the account's settings (strategy, paper/live, limits: never the keys),
its ``state.db`` (equity, trades, decisions and votes, events), its STOP flag and its lessons.
The database is opened with ``mode=ro`` while a daemon holds it (its ``-wal``/``-shm`` files
exist), else a snapshot copy in a temporary directory is read: SQLite would otherwise create
``-wal``/``-shm`` files in the account directory, and the dashboard never writes there.
A source that cannot be read becomes an error shown in the tab; the other accounts still render.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from stockbot.config import (ConfigError, LLMSettings, RiskSettings, Settings, ValidationSettings, account_paths,
                             load_settings)
from stockbot.consensus.aggregate import required_votes
from stockbot.consensus.budget import budget_status
from stockbot.dashboard import metrics
from stockbot.domain import utcnow
from stockbot.trading.riskctx import closed_trades
from stockbot.flags import read_stop
from stockbot import drought
from stockbot.lessons.files import SHARED_SCOPE, LessonStore
from stockbot.risk.states import TradingState
from stockbot.risk.validation import ValidationReport, live_allowed, validation_report
from stockbot.store import Event, Store, StoreError
from stockbot.store_read import known_accounts, readonly_store  # noqa: F401 - re-exported for the readers
from stockbot.store_rows import TradeRow, VoteRow

NY = ZoneInfo("America/New_York")
_SEVERITY = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
EVENT_KINDS = (metrics.OUT_OF_CAPITAL, metrics.CAPITAL_RESTORED, "job_crash", "daemon_start", "daemon_stop",
               "trading_state", "live_override_used", "live_override_active", "lessons_unavailable",
               *metrics.STREAM_EVENTS, *(k for kinds in metrics.JOB_EVENTS.values() for k in kinds))


@dataclass(frozen=True, slots=True)
class SettingsView:
    """The non-secret settings the page needs; ``loaded`` False means defaults were used."""

    strategy: str
    paper: bool
    threshold: float
    agents: tuple[str, ...]
    risk: RiskSettings
    validation: ValidationSettings
    loaded: bool
    blocked_sessions: int = 5  # ALERT_BLOCKED_SESSIONS: the "green but not trading" alarm
    llm: LLMSettings = LLMSettings()

    @classmethod
    def of(cls, s: Settings, loaded: bool = True) -> "SettingsView":
        return cls(s.strategy, s.alpaca.paper, s.agents.threshold, tuple(a.name for a in s.agents.agents),
                   s.risk, s.validation, loaded, s.alerts.blocked_sessions, s.llm)


@dataclass(frozen=True, slots=True)
class Position:
    structure_id: str
    strategy: str
    opened: str
    qty: str
    entry_price: str | None
    meta: dict[str, Any]
    legs: tuple[tuple[str, str], ...]  # (symbol, signed qty)


@dataclass(frozen=True, slots=True)
class VoteView:
    agent: str
    model: str
    action: str
    confidence: float | None
    rationale: str
    error: str | None


@dataclass(frozen=True, slots=True)
class DecisionView:
    decision_id: str
    ts: str
    action: str
    reason: str
    outcome: str | None  # the decision cycle's status (entered, hold, halted...) when recorded
    enter_votes: int
    n_agents: int
    required: int
    votes: tuple[VoteView, ...]


@dataclass(frozen=True, slots=True)
class LessonView:
    id: str
    title: str
    date: str
    severity: str
    status: str
    occurrences: int
    scope: str  # "shared" | "account"


@dataclass(frozen=True, slots=True)
class Health:
    stop: dict[str, Any] | None
    state: TradingState | None  # None: unknown (the database could not be read)
    state_reasons: tuple[str, ...]
    stream: metrics.StreamState
    jobs: tuple[metrics.JobRun, ...]
    capital: dict[str, Any] | None
    last_start: datetime | None
    last_stop: datetime | None
    recent: tuple[Event, ...]
    entries: str = ""  # the "green but not trading" line (stockbot.drought.status_line)
    llm: dict[str, Any] | None = None  # today's LLM spend vs budget (None: not recorded by this store)


@dataclass(frozen=True)
class AccountData:
    """Everything one tab shows. ``error``: the state database could not be read."""

    account: str | None
    settings: SettingsView
    error: str | None = None
    equity: tuple[metrics.Point, ...] = ()
    figures: metrics.EquityFigures | None = None
    realised: Decimal = Decimal(0)
    closed_count: int = 0
    positions: tuple[Position, ...] = ()
    decisions: tuple[DecisionView, ...] = ()
    newest_lessons: tuple[LessonView, ...] = ()
    frequent_lessons: tuple[LessonView, ...] = ()
    lesson_errors: tuple[str, ...] = ()
    validation: ValidationReport | None = None
    validation_verdict: str = "paper"  # paper | passed | override | blocked
    health: Health | None = None

    @property
    def state_name(self) -> str:
        """ACTIVE / REDUCING / HALTED, or UNKNOWN when the state could not be determined."""
        return self.health.state.value if self.health and self.health.state else "UNKNOWN"

    @property
    def key(self) -> str:
        """A stable id for HTML anchors (account ids are [a-z0-9_-]; the default is "default")."""
        return self.account or "_default"


@dataclass(frozen=True)
class Dashboard:
    generated_at: datetime
    accounts: tuple[AccountData, ...]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # for the renderer's redaction only


# --------------------------------------------------------------------------- opening


def _settings(account: str | None) -> tuple[SettingsView, tuple[str, ...]]:
    try:
        s = load_settings(account)
    except ConfigError:
        return SettingsView.of(Settings(account=account), loaded=False), ()
    return SettingsView.of(s), tuple(s.secrets())


# --------------------------------------------------------------------------- collection


def collect_account(account: str | None, *, now: datetime | None = None, decisions: int = 10,
                    lessons: int = 5, events: int = 15) -> tuple[AccountData, tuple[str, ...]]:
    """One account's data and the secrets of its settings (for redaction, never for display)."""
    now = now or utcnow()
    view, secrets = _settings(account)
    stop = read_stop(account)
    newest, frequent, lesson_errors = _lessons(account, lessons)
    base = dict(account=account, settings=view, newest_lessons=newest, frequent_lessons=frequent,
                lesson_errors=lesson_errors)
    try:
        with readonly_store(account_paths(account)["state_db"]) as store:
            data = _from_store(store, view, stop, now, decisions, events)
    except (StoreError, sqlite3.Error, OSError, ValueError) as exc:
        # Without the database only the STOP flag is known: never claim "active" (fail closed).
        health = Health(stop, TradingState.HALTED if stop else None, ("stop_flag",) if stop else (),
                        metrics.StreamState("unknown", None, None), (), None, None, None, ())
        return AccountData(**base, error=f"{type(exc).__name__}: {exc}", health=health), secrets
    return AccountData(**base, **data), secrets


def _from_store(store: Store, view: SettingsView, stop: dict | None, now: datetime, n_decisions: int,
                n_events: int) -> dict[str, Any]:
    curve = [(ts, eq) for ts, eq, _cash in store.equity_curve()]
    figures = metrics.equity_figures(curve, now)
    trades = store.trades()
    realised, n_closed = metrics.realised_pnl(trades)
    by_kind = {k: store.events(kind=k) for k in EVENT_KINDS}
    capital = metrics.capital_state(by_kind[metrics.OUT_OF_CAPITAL], by_kind[metrics.CAPITAL_RESTORED])
    state, reasons = metrics.trading_state(view.risk, stop=stop is not None, figures=figures,
                                           out_of_capital=capital is not None)
    recorded = by_kind["trading_state"][-1].payload if by_kind["trading_state"] else None
    if recorded and _SEVERITY.get(recorded.get("state"), 0) > _SEVERITY[state.value]:
        # The daemon judged it from the broker's live figures (last_equity): the recorded curve may
        # not hold today's start yet. Never show a calmer state than the daemon last announced.
        state, reasons = TradingState(recorded["state"]), tuple(recorded.get("reasons") or ())
    report = validation_report(closed_trades(trades, view.strategy), None, now.astimezone(NY).date(),
                               view.validation)
    health = Health(
        stop=stop, state=state, state_reasons=reasons,
        stream=metrics.stream_state([e for k in metrics.STREAM_EVENTS for e in by_kind[k]]),
        jobs=tuple(metrics.job_runs(by_kind, by_kind["job_crash"])), capital=capital,
        last_start=by_kind["daemon_start"][-1].ts if by_kind["daemon_start"] else None,
        last_stop=by_kind["daemon_stop"][-1].ts if by_kind["daemon_stop"] else None,
        recent=tuple(reversed(store.last_events(n_events))),
        entries=drought.status_line(store, view.blocked_sessions),
        llm=_llm_spend(store, view, now),
    )
    return dict(equity=tuple(curve), figures=figures, realised=realised, closed_count=n_closed,
                positions=tuple(_position(t) for t in trades if t.is_open),
                decisions=tuple(_decisions(store, view, by_kind["decision_cycle"], n_decisions)),
                validation=report, validation_verdict=_verdict(report, view), health=health)


def _llm_spend(store: Store, view: SettingsView, now: datetime) -> dict[str, Any] | None:
    try:
        return budget_status(store, view.llm, now).as_dict()
    except sqlite3.OperationalError:  # a store older than the llm_calls table, opened read-only
        return None


def _verdict(report: ValidationReport, view: SettingsView) -> str:
    if view.paper:
        return "paper"
    if report.passed:
        return "passed"
    allowed, _ = live_allowed(report, False, view.validation.live_override)
    return "override" if allowed else "blocked"


def _position(t: TradeRow) -> Position:
    legs = tuple((leg.symbol, str(leg.qty)) for leg in t.legs)
    return Position(t.structure_id, t.strategy, t.opened_ts.isoformat(), str(t.qty),
                    None if t.entry_price is None else str(t.entry_price),
                    t.meta if isinstance(t.meta, dict) else {}, legs)


def _decisions(store: Store, view: SettingsView, cycles: list[Event], limit: int) -> list[DecisionView]:
    by_id = {e.payload.get("decision_id"): e.payload for e in cycles if e.payload.get("decision_id")}
    out = []
    for d in store.decisions(limit=limit):
        votes = tuple(_vote(v) for v in store.votes(d.decision_id))
        cycle = by_id.get(d.decision_id, {})
        n = len(votes) or len(view.agents)
        enter = sum(1 for v in votes if v.action == "ENTER" and not v.error)
        required = cycle.get("required") or required_votes(max(n, 1), view.threshold)
        out.append(DecisionView(d.decision_id, d.ts.isoformat(), d.action, d.reason or "", cycle.get("status"),
                                int(cycle.get("enter_votes", enter)), n, int(required), votes))
    return out


def _vote(v: VoteRow) -> VoteView:
    body = v.vote if isinstance(v.vote, dict) else {}
    return VoteView(v.agent, v.model, v.action, None if v.confidence is None else float(v.confidence),
                    str(body.get("rationale", "")), v.error)


def _lessons(account: str | None, n: int) -> tuple[tuple[LessonView, ...], tuple[LessonView, ...], tuple[str, ...]]:
    try:
        loaded = LessonStore(account).load()
    except Exception as exc:  # noqa: BLE001 - a broken lessons dir is shown, it must not hide the tab
        return (), (), (f"{type(exc).__name__}: {exc}",)
    views = [LessonView(x.id, x.title, x.date.isoformat(), x.severity.value, x.status.value, x.occurrences,
                        "shared" if x.scope == SHARED_SCOPE else "account") for x in loaded.lessons]
    newest = sorted(views, key=lambda x: (x.date, int(x.id[3:])), reverse=True)[:n]
    frequent = sorted(views, key=lambda x: (x.occurrences, x.date), reverse=True)[:n]
    return tuple(newest), tuple(frequent), tuple(loaded.errors)


def collect_all(*, now: datetime | None = None, accounts: list[str | None] | None = None) -> Dashboard:
    """Every account with state under the memory root (or the given ones), read-only."""
    now = now or utcnow()
    found = known_accounts() if accounts is None else accounts
    collected, secrets = [], []
    for account in found:
        data, sec = collect_account(account, now=now)
        collected.append(data)
        secrets.extend(sec)
    return Dashboard(now, tuple(collected), tuple(dict.fromkeys(secrets)))
