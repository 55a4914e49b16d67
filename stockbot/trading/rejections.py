"""A clear state after Alpaca refuses an entry for a reason that the next order cannot escape.

A rejection is never retried blindly (the ladder stops at the first refusal, ``broker/errors.py``
never marks a refusal transient). Some refusals would simply come back at the next decision, so new
entries stay blocked while the cause lasts, read from the store's rejected orders (pure over the
store: a restart sees the same state):

| refusal | blocked until | why |
|---|---|---|
| pattern day trader (40310100) | the next New York session | the 5-session window rolls forward; one try per session at most |
| options level too low / time in force not supported | the daemon restarts | a setting or the account's approval must change: an operator's fix |

Insufficient buying power has its own state (``out_of_capital``, condor engine). Refusals of
closing orders (qty held for orders, an uncovered leg) are not blocks: the manager closes leg by
leg, shorts first, and the reconciler cancels stale orders and closes what is left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from stockbot.broker.errors import rejection_kind
from stockbot.domain import OrderPurpose, utcnow
from stockbot.store import Store
from stockbot.store_rows import OrderRow

NY = ZoneInfo("America/New_York")
SESSION_KINDS = frozenset({"pattern_day_trader"})
CONFIG_KINDS = frozenset({"options_level", "unsupported_order"})
OPENING = (OrderPurpose.CONDOR_OPEN, OrderPurpose.EQUITY_OPEN, "open")  # "open": an older purpose


def _opening(row: OrderRow) -> bool:
    purpose = str(row.purpose or "")
    return purpose in OPENING or purpose.endswith("_open")


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo("UTC"))


def rejection_block(store: Store, *, since: datetime, now: Callable[[], datetime] = utcnow) -> str | None:
    """Why new entries must wait after a refusal, or None. ``since``: when this process started
    (configuration refusals block until a restart)."""
    today = now().astimezone(NY).date()
    for row in reversed(store.orders(status="rejected")):
        if not _opening(row):
            continue
        raw = row.raw or {}
        kind = rejection_kind(raw.get("code"), str(raw.get("error") or ""))
        when = row.updated_ts or row.created_ts
        if kind in SESSION_KINDS and when.astimezone(NY).date() == today:
            return (f"entries paused for this session: the broker refused {row.client_order_id} under pattern "
                    f"day trader protection ({raw.get('code')})")
        if kind in CONFIG_KINDS and when >= since:
            return (f"entries stopped until an operator fixes it and restarts: the broker refused "
                    f"{row.client_order_id} ({kind}: {str(raw.get('error'))[:160]})")
    return None


def with_rejections(block: Callable[[], str | None] | None, store: Store, *, since: datetime | None = None,
                    now: Callable[[], datetime] = utcnow) -> Callable[[], str | None]:
    """``block`` (the daemon's entry block) extended by :func:`rejection_block`."""
    started = since or now()

    def combined() -> str | None:
        return (block() if block is not None else None) or rejection_block(store, since=started, now=now)

    return combined
