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
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from stockbot.config import Settings
from stockbot.domain import as_utc
from stockbot.risk.validation import ClosedTrade, live_allowed, validation_report
from stockbot.store import Store

NY = ZoneInfo("America/New_York")


def _ts(raw: str | None) -> datetime | None:
    if not raw:
        return None
    ts = datetime.fromisoformat(raw)
    return as_utc(ts) if ts.tzinfo else ts.replace(tzinfo=ZoneInfo("UTC"))


def ny_midnight(now: datetime, *, week: bool = False) -> datetime:
    """Start of ``now``'s New York day (or of its Monday with ``week``) as aware UTC."""
    local = as_utc(now).astimezone(NY)
    day = local.date() - timedelta(days=local.weekday() if week else 0)
    return datetime.combine(day, time(0), NY).astimezone(ZoneInfo("UTC"))


def order_counts(orders: Iterable[Mapping[str, Any]], now: datetime) -> tuple[int, int]:
    """(orders created in the last hour, orders created since New York midnight).

    Every order row counts, whatever became of it: the fire counter exists to stop a runaway
    loop, and a loop of rejected orders is still a runaway loop.
    """
    hour_ago, midnight = as_utc(now) - timedelta(hours=1), ny_midnight(now)
    last_hour = today = 0
    for row in orders:
        ts = _ts(row.get("created_ts"))
        if ts is None:
            continue
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


def closed_trades(rows: Iterable[Mapping[str, Any]], strategy: str) -> list[ClosedTrade]:
    """Closed trades of ``strategy`` with a known P&L, as the validation gate counts them."""
    out = []
    for r in rows:
        if r.get("status") != "closed" or r.get("strategy") != strategy or r.get("pnl") in (None, ""):
            continue
        opened, closed = _ts(r.get("opened_ts")), _ts(r.get("closed_ts"))
        if opened is None or closed is None:
            continue
        out.append(ClosedTrade(opened, closed, Decimal(str(r["pnl"]))))
    return out


@dataclass(frozen=True, slots=True)
class ValidationState:
    """``live_allowed`` feeds the gate; ``still_validating`` caps sizing at one contract."""

    live_allowed: bool
    still_validating: bool
    reason: str


def validation_state(settings: Settings, store: Store, today: date) -> ValidationState:
    """Where the paper-validation gate stands for this account (paper accounts always trade)."""
    report = validation_report(closed_trades(store.trades(), settings.strategy), None, today,
                               settings.validation)
    allowed, reason = live_allowed(report, settings.alpaca.paper, settings.validation.live_override)
    return ValidationState(allowed, not report.passed, reason)
