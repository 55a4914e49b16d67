"""Facts for the risk gate that come from the account's own state store.

The gate itself is pure (``stockbot.risk.gate``); these helpers read the store and turn its rows
into the numbers a ``RiskContext`` needs: how many orders were sent in the last hour and today
(the fire counters), the equity at the start of the week, and where the paper-validation gate
stands. They never talk to the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, time
from decimal import Decimal
from typing import Iterable
from zoneinfo import ZoneInfo

from stockbot.config import Settings, account_paths
from stockbot.domain import as_utc
from stockbot.risk.validation import ClosedTrade, live_allowed, validation_report
from stockbot.store import Store
from stockbot.store_read import readonly_store
from stockbot.store_rows import OrderRow, TradeRow

NY = ZoneInfo("America/New_York")


def ny_midnight(now: datetime, *, week: bool = False) -> datetime:
    """Start of ``now``'s New York day (or of its Monday with ``week``) as aware UTC."""
    local = as_utc(now).astimezone(NY)
    day = local.date() - timedelta(days=local.weekday() if week else 0)
    return datetime.combine(day, time(0), NY).astimezone(ZoneInfo("UTC"))


def order_counts(orders: Iterable[OrderRow], now: datetime) -> tuple[int, int]:
    """(orders created in the last hour, orders created since New York midnight).

    Every order row counts, whatever became of it: the fire counter exists to stop a runaway
    loop, and a loop of rejected orders is still a runaway loop.
    """
    hour_ago, midnight = as_utc(now) - timedelta(hours=1), ny_midnight(now)
    last_hour = today = 0
    for row in orders:
        ts = as_utc(row.created_ts)
        last_hour += ts >= hour_ago
        today += ts >= midnight
    return last_hour, today


def start_of_week_equity(curve: Iterable[tuple[datetime, Decimal, Decimal]], now: datetime,
                         fallback: Decimal) -> Decimal:
    """The first equity recorded since Monday 00:00 New York, else ``fallback``.

    ``fallback`` is the broker's ``last_equity`` (yesterday's close): on the first day of a new
    account that is the best start-of-week figure there is.
    """
    monday = ny_midnight(now, week=True)
    for ts, equity, _cash in curve:
        if as_utc(ts) >= monday:
            return equity
    return fallback


def closed_trades(rows: Iterable[TradeRow], strategy: str) -> list[ClosedTrade]:
    """Closed trades of ``strategy`` with a known P&L, as the validation gate counts them."""
    out = []
    for r in rows:
        if r.status != "closed" or r.strategy != strategy or r.pnl is None or r.closed_ts is None:
            continue
        out.append(ClosedTrade(as_utc(r.opened_ts), as_utc(r.closed_ts), r.pnl))
    return out


@dataclass(frozen=True, slots=True)
class ValidationState:
    """``live_allowed`` feeds the gate; ``still_validating`` caps sizing at one contract."""

    live_allowed: bool
    still_validating: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ValidationRecord:
    """The trades the gate judges and where they came from. ``problem``: the named paper record
    cannot be used (then the gate sees no trades: fail closed)."""

    rows: list[TradeRow]
    source: str
    problem: str | None = None


def validation_record(settings: Settings, store: Store | None) -> ValidationRecord:
    """This account's trades, or for a live account with ``VALIDATION_PAPER_ACCOUNT`` that paper
    account's, read from its ``state.db`` read-only (isolation: reading is allowed, writing never).
    The record must come from a paper daemon: every recorded start of it says ``paper: true``."""
    own = f"this account ({settings.account or 'default'})"
    other = settings.validation.paper_account
    if settings.alpaca.paper or other is None:
        return ValidationRecord(store.trades() if store is not None else [], own,
                                None if store is not None else "no state database yet")
    if other == settings.account:
        return ValidationRecord([], f"paper account {other}", "VALIDATION_PAPER_ACCOUNT names this live account")
    db = account_paths(other)["state_db"]
    source = f"paper account {other} ({db}, read-only)"
    if not db.exists():
        return ValidationRecord([], source, "no state database yet")
    try:
        with readonly_store(db) as paper:
            starts = paper.events(kind="daemon_start")
            if not starts or any(e.payload.get("paper") is not True for e in starts):
                return ValidationRecord([], source, "not the record of a paper account (a start without paper=true)")
            return ValidationRecord(paper.trades(), source)
    except Exception as exc:  # noqa: BLE001 - an unreadable record qualifies nobody
        return ValidationRecord([], source, f"unreadable: {type(exc).__name__}: {exc}"[:300])


def validation_state(settings: Settings, store: Store, today: date) -> ValidationState:
    """Where the paper-validation gate stands for this account (paper accounts always trade)."""
    record = validation_record(settings, store)
    report = validation_report(closed_trades(record.rows, settings.strategy), None, today,
                               settings.validation)
    allowed, reason = live_allowed(report, settings.alpaca.paper, settings.validation.live_override)
    if record.problem:
        reason = f"{reason} [record: {record.source}: {record.problem}]"
    return ValidationState(allowed, not report.passed, reason)
