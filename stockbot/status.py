"""``stockbot status`` and ``stockbot validation``: what an operator needs at a glance, read-only.

Figures come from the dashboard's read-only collector (``stockbot.dashboard.data`` / ``metrics``):
trading state, equity and today's P&L, open structures, the last decision and its votes, stream
freshness, the STOP flag, the lessons count and validation progress. The state database is read
through ``readonly_store`` (``mode=ro`` while a daemon runs, else a private snapshot copy), so status
never blocks a daemon and never creates a file in an account directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from stockbot.config import (account_paths, load_settings, memory_dir, memory_root,
                             validate_account_id)
from stockbot.flags import read_stop
from stockbot.store import StoreError
from stockbot.store_read import known_accounts

NY = ZoneInfo("America/New_York")
FINAL_ORDER_STATES = ("filled", "canceled", "expired", "rejected")


def _money(v: Decimal | None, signed: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+,.2f}" if signed else f"{v:,.2f}"


def _when(ts: datetime | str | None) -> str:
    if ts is None:
        return "never"
    return ts.isoformat(timespec="seconds") if isinstance(ts, datetime) else str(ts)


def _short(payload: dict, limit: int = 120) -> str:
    text = ", ".join(f"{k}={v}" for k, v in payload.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lessons_line(account: str | None, now: datetime | None = None) -> str:
    from stockbot.lessons.files import LessonStore

    try:
        loaded = LessonStore(account).load()
    except Exception as exc:  # noqa: BLE001 - a broken lessons dir is shown, not fatal
        return f"lessons: unreadable ({type(exc).__name__}: {exc})"
    errors = f", {len(loaded.errors)} file(s) with errors" if loaded.errors else ""
    from collections import Counter

    from stockbot.domain import utcnow
    from stockbot.lessons.enforcement import guard_state

    states = Counter(guard_state(x, now or utcnow()).state for x in loaded.lessons if x.guard is not None)
    guards = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    return f"lessons: {len(loaded.lessons)}{errors}" + (f"; guards: {guards}" if guards else "")


def _entries_line(account: str | None) -> str:
    """The "green but not trading" line: entries blocked K sessions in a row, and by what."""
    from stockbot import drought
    from stockbot.dashboard.data import readonly_store

    try:
        k = load_settings(account).alerts.blocked_sessions
        with readonly_store(account_paths(account)["state_db"]) as store:
            return drought.status_line(store, k)
    except Exception as exc:  # noqa: BLE001 - the status view shows problems, it does not fail on them
        return f"entries: unknown ({type(exc).__name__}: {exc})"[:200]


def validation_progress(report: Any, verdict: str) -> str:
    """One line: days/trades/win rate against their thresholds, and the gate's verdict."""
    by = {c.name: c for c in report.criteria}
    d, t, w = by["days"], by["trades"], by["win_rate"]
    return (f"validation: days {int(d.value)}/{int(d.threshold)}, trades {int(t.value)}/{int(t.threshold)}, "
            f"win rate {w.value:.1%}/{w.threshold:.0%}, profit factor {report.profit_factor:.2f} -> "
            + ("PASSED" if report.passed else "not passed") + f" ({verdict})")


def _summary(data: Any, lines: list[str]) -> None:
    """Append the collected figures of one account (``dashboard.data.AccountData``)."""
    s = data.settings
    lines.append(f"strategy: {s.strategy}, {'paper' if s.paper else 'LIVE'}"
                 + ("" if s.loaded else " (settings not loadable: defaults shown)"))
    h = data.health
    reasons = f" ({', '.join(h.state_reasons)})" if h and h.state_reasons else ""
    lines.append(f"trading state: {data.state_name}{reasons}")
    if data.error:
        lines.append(f"state: {data.error}")
        return
    f = data.figures
    if f is None or f.latest is None:
        lines.append("equity: no equity recorded yet")
    else:
        lines.append(f"equity: {_money(f.latest)} at {_when(f.latest_ts)}; today's P&L: "
                     + (_money(f.pnl_today, signed=True) if f.pnl_today is not None else "n/a (nothing recorded today)"))
    lines.append(f"realised P&L: {_money(data.realised, signed=True)} over {data.closed_count} closed trade(s)")
    lines.append(f"open positions: {len(data.positions)}")
    for p in data.positions:
        legs = " ".join(f"{sym}:{qty}" for sym, qty in p.legs)
        lines.append(f"  {p.structure_id} {p.strategy} qty {p.qty} opened {p.opened}"
                     + (f" entry {p.entry_price}" if p.entry_price else "") + (f" [{legs}]" if legs else ""))
    if data.decisions:
        d = data.decisions[0]
        outcome = f" -> {d.outcome}" if d.outcome else ""
        lines.append(f"last decision: {d.ts} {d.action} ({d.reason}){outcome}; "
                     f"ENTER votes {d.enter_votes}/{d.n_agents}, required {d.required}")
        for v in d.votes:
            lines.append(f"  vote {v.agent:<12} {v.action:<5} {v.error or ''}".rstrip())
    else:
        lines.append("last decision: none yet")
    if h is not None:
        st = h.stream
        lines.append(f"stream: {st.status}" + (f" ({st.kind} at {_when(st.ts)})" if st.kind else ""))
    if data.validation is not None:
        lines.append(validation_progress(data.validation, data.validation_verdict))


def account_status(account: str | None, *, events: int = 10, now: datetime | None = None) -> str:
    """A text block for one account: STOP flag, trading state, equity and P&L, positions, last
    decision and votes, stream, lessons, validation, orders not final and recent events."""
    from stockbot.dashboard.data import collect_account, readonly_store

    validate_account_id(account)
    name = account or "default"
    lines = [f"== account {name} ({memory_dir(account)})"]
    stop = read_stop(account)
    lines.append("STOP: " + (f"HALTED by {stop.get('who')} at {stop.get('when')}: {stop.get('why')}"
                             if stop else "not set (trading allowed)"))
    data, _secrets = collect_account(account, now=now, decisions=1, events=events)
    _summary(data, lines)
    lines.append(_lessons_line(account, now))
    if data.error:
        return "\n".join(lines)
    try:
        with readonly_store(account_paths(account)["state_db"]) as store:
            pending = [o for o in store.orders() if o.status not in FINAL_ORDER_STATES]
            recent = store.last_events(events)
    except StoreError as exc:
        lines.append(f"state: {exc}")
        return "\n".join(lines)
    lines.append(f"orders not final: {len(pending)}")
    lines.append(_entries_line(account))
    lines.append(f"recent events ({events}):")
    for ev in recent:
        lines.append(f"  #{ev.seq} {ev.ts.isoformat(timespec='seconds')} {ev.kind} {_short(ev.payload)}")
    return "\n".join(lines)


def render_status(account: str | None, *, all_accounts: bool = False, events: int = 10) -> str:
    """Status of one account, or the fleet table of every known account with ``all_accounts``."""
    if not all_accounts:
        return account_status(account, events=events)
    return fleet_status()[1]


# --------------------------------------------------------------------------- the fleet view

FLEET_COLUMNS = ("account", "strategy", "state", "STOP", "equity", "day P&L", "open", "last decision", "stream",
                 "last alert", "health")


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One account's line of ``status --all``; ``problems`` empty means healthy."""

    account: str
    strategy: str
    state: str
    stop: str
    equity: str
    day_pnl: str
    open: str
    last_decision: str
    stream: str
    last_alert: str
    problems: tuple[str, ...]

    def cells(self) -> tuple[str, ...]:
        return (self.account, self.strategy, self.state, self.stop, self.equity, self.day_pnl, self.open,
                self.last_decision, self.stream, self.last_alert, "ok" if not self.problems else
                "; ".join(self.problems))


def _short_ts(ts: Any) -> str:
    """``MM-DD HH:MM`` in UTC, as the journal shows it (a bad timestamp is shown as given)."""
    try:
        t = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
    except ValueError:
        return str(ts)
    t = t if t.tzinfo else t.replace(tzinfo=ZoneInfo("UTC"))
    return t.astimezone(ZoneInfo("UTC")).strftime("%m-%d %H:%MZ")


def problems_of(data: Any) -> tuple[str, ...]:
    """Why an account is not healthy: halted, unreadable, bad settings, a stale stream, a job
    whose last act was a crash, a daemon whose last word was a stop. Empty = healthy."""
    found: list[str] = []
    if data.error:
        found.append("state unreadable")
    if not data.settings.loaded:
        found.append("settings invalid")
    if data.state_name == "HALTED":
        found.append("halted")
    h = data.health
    if h is not None:
        if h.stream.status == "stale":
            found.append("stream stale")
        found += [f"{j.job} crashed" for j in h.jobs if j.crashed_last]
        if h.last_stop is not None and (h.last_start is None or h.last_stop >= h.last_start):
            found.append("daemon stopped")
    return tuple(found)


def fleet_row(account: str | None, *, now: datetime | None = None) -> FleetRow:
    from stockbot.alerts import last_alert
    from stockbot.dashboard.data import collect_account

    data, _secrets = collect_account(account, now=now, decisions=1, lessons=0, events=0)
    f = data.figures
    stop = data.health.stop if data.health else read_stop(account)
    decision = "none"
    if data.decisions:
        d = data.decisions[0]
        decision = f"{_short_ts(d.ts)} {d.action}" + (f"->{d.outcome}" if d.outcome else "")
    alert = last_alert(account)
    return FleetRow(
        account=account or "default", strategy=data.settings.strategy + ("" if data.settings.paper else " LIVE"),
        state=data.state_name, stop="SET" if stop else "-",
        equity=_money(f.latest) if f and f.latest is not None else "n/a",
        day_pnl=_money(f.pnl_today, signed=True) if f and f.pnl_today is not None else "n/a",
        open=str(len(data.positions)) if not data.error else "n/a", last_decision=decision,
        stream=data.health.stream.status if data.health else "unknown",
        last_alert=f"{alert.get('kind')} {_short_ts(alert.get('ts'))}" if alert else "none",
        problems=problems_of(data))


def render_fleet(rows: list[FleetRow]) -> str:
    table = [FLEET_COLUMNS, *(r.cells() for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(FLEET_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    bad = [r.account for r in rows if r.problems]
    lines += ["", f"{len(rows)} account(s); " + (f"NOT healthy: {', '.join(bad)}" if bad else "all healthy")]
    return "\n".join(lines)


def fleet_status(*, now: datetime | None = None) -> tuple[int, str]:
    """``stockbot status --all``: (exit code, table). Exit 1 when any account is halted or
    unhealthy, or when there is no account at all (a health check must not pass on nothing)."""
    accounts = known_accounts()
    if not accounts:
        return 1, f"no accounts with state under {memory_root()}"
    rows = [fleet_row(acc, now=now) for acc in accounts]
    return (1 if any(r.problems for r in rows) else 0), render_fleet(rows)


# --------------------------------------------------------------------------- validation


def validation_command(account: str | None, *, today: date | None = None) -> tuple[int, str]:
    """``stockbot validation``: (exit code, text). The report covers the account's closed trades of
    its strategy; the first paper trade is the earliest trade's ``opened_ts``. Exit 0 for a paper
    account (report only) and for a live account that may trade (passed, or the explicit override);
    1 for a live account that has not passed. Raises ConfigError for broken settings."""
    from stockbot.store_read import readonly_store
    from stockbot.trading.riskctx import closed_trades
    from stockbot.risk.validation import live_allowed, render_table, validation_report

    from stockbot.trading.riskctx import validation_record

    settings = load_settings(account)
    today = today or datetime.now(NY).date()
    db = account_paths(account)["state_db"]
    if db.exists():
        with readonly_store(db) as store:
            record = validation_record(settings, store)
    else:  # a new live account has no database of its own yet; its paper record may still qualify it
        record = validation_record(settings, None)
    rows = record.rows
    mine = [r for r in rows if r.strategy == settings.strategy]
    opened = [r.opened_ts for r in mine]
    first = min(opened) if opened else None
    report = validation_report(closed_trades(mine, settings.strategy), first, today, settings.validation)
    paper = settings.alpaca.paper
    allowed, reason = live_allowed(report, paper, settings.validation.live_override)
    name = account or "default"
    first_txt = first.astimezone(NY).date().isoformat() if first else "none yet"
    lines = [f"paper validation of account {name} (strategy {settings.strategy}, {'paper' if paper else 'LIVE'})",
             f"record used: {record.source}" + (f" - {record.problem}" if record.problem else ""),
             f"first paper trade: {first_txt}; closed trades: {report.trades}; as of {today.isoformat()}", "",
             render_table(report), ""]
    if paper:
        lines.append(f"paper account: report only (live trading would be "
                     f"{'allowed' if report.passed else 'blocked'} by this report)")
        return 0, "\n".join(lines)
    lines.append(("live trading: allowed: " if allowed else "live trading: BLOCKED: ") + reason)
    return (0 if allowed else 1), "\n".join(lines)


__all__ = ["FleetRow", "account_status", "fleet_status", "known_accounts", "problems_of", "render_fleet",
           "render_status", "validation_command", "validation_progress"]
