"""Failure: what every failure path hands to ``LessonCapture.capture``, and its fingerprint.

The fingerprint identifies "the same failure" across occurrences: the kind, the component and the
stable parts of the details (error codes, reasons with numbers and ids blanked out, order class,
single vs multi-leg, underlying). Quantities, prices, order ids and timestamps never enter it.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from stockbot.domain import OrderClass, OrderIntent, TradeContext, utcnow
from stockbot.lessons.guards import underlying_of

FAILURE_KINDS = (
    "order_rejected", "broker_error", "orphan_position", "reconcile_mismatch", "stream_406", "stale_quotes",
    "agent_timeout", "agent_invalid_output", "job_exception", "out_of_capital", "duplicate_order",
    "pdt_lockout", "market_closed", "wrong_account", "config_error", "startup_refused", "symbol_halted",
    "option_assigned", "option_exercised", "carried_to_expiry", "broker_liquidation",
)
# Detail keys whose (normalised) values identify a failure; everything else is context only.
FINGERPRINT_KEYS = ("code", "status", "http_status", "reason", "error", "error_type", "exception",
                    "order_class", "leg_count", "asset_class", "job", "purpose", "position_side")
# UUIDs, and hex tokens of 12+ characters with at least one digit (order ids, hashes)
_UUID_OR_HEX = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
                          r"|\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Failure:
    """One failure, as the code that saw it describes it.

    ``kind`` is one of FAILURE_KINDS (others are accepted and drafted generically); ``event_id``
    is the state-store seq of the event that recorded the failure, when there is one.
    """

    kind: str
    component: str
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    symbol: str | None = None
    order_type: str | None = None
    event_id: int | None = None
    impact: str = ""
    ts: datetime = field(default_factory=utcnow)

    @classmethod
    def for_order(cls, kind: str, component: str, summary: str, intent: OrderIntent,
                  ctx: TradeContext | None = None, *, event_id: int | None = None, impact: str = "",
                  **details: Any) -> "Failure":
        """A failure about an order: details filled from the intent (class, legs, asset class)."""
        symbols = [s for s in [intent.symbol, *(leg.symbol for leg in intent.legs)] if s]
        d = {"order_class": intent.order_class.value, "leg_count": intent.option_leg_count or len(intent.legs) or 1,
             "asset_class": intent.asset_class.value, "order_type": intent.order_type, "purpose": intent.purpose,
             "client_order_id": intent.client_order_id, "qty": str(intent.qty), "symbols": symbols}
        d.update(details)
        order_type = intent.order_type
        if intent.order_class is OrderClass.MLEG:
            order_type = f"mleg {intent.order_type}"
        elif intent.option_leg_count > 1:
            order_type = f"multi-leg {intent.order_class.value} {intent.order_type}"
        symbol = (ctx.symbol if ctx else None) or (underlying_of(symbols[0]) if symbols else None)
        return cls(kind=kind, component=component, summary=summary, details=d,
                   strategy=ctx.strategy if ctx else None, symbol=symbol, order_type=order_type,
                   event_id=event_id, impact=impact)

    @classmethod
    def from_exception(cls, component: str, exc: BaseException, *, job: str = "", kind: str = "job_exception",
                       event_id: int | None = None, **details: Any) -> "Failure":
        """A failure from an exception caught in a job or a loop (exception type and place kept)."""
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].name}" if tb else ""
        d = {"exception": type(exc).__name__, "error": str(exc)[:300], "where": where, "job": job}
        d.update(details)
        return cls(kind=kind, component=component, summary=f"{type(exc).__name__} in {job or component}: {exc}"[:300],
                   details=d, event_id=event_id)

    @property
    def is_multileg_without_mleg(self) -> bool:
        """A multi-leg option order that was not sent as one atomic mleg order."""
        d = self.details
        try:
            legs = int(d.get("leg_count") or 0)
        except (TypeError, ValueError):
            legs = 0
        return legs > 1 and str(d.get("order_class", "")).lower() != OrderClass.MLEG.value


def normalize_text(text: Any, limit: int = 160) -> str:
    """Lower-case, ids and numbers blanked, whitespace collapsed: the stable part of a message."""
    s = _UUID_OR_HEX.sub("<id>", str(text).lower())
    s = _NUMBER.sub("#", s)
    return " ".join(s.split())[:limit]


def fingerprint(failure: Failure) -> str:
    """Stable id of "the same failure" (sha256 prefix); volatile numbers never enter it."""
    d = failure.details
    parts = [f"kind={failure.kind}", f"component={failure.component.lower()}",
             f"strategy={(failure.strategy or '').lower()}",
             f"underlying={underlying_of((failure.symbol or '').upper())}"]
    keyed = False
    for key in FINGERPRINT_KEYS:
        if key not in d or d[key] in (None, ""):
            continue
        value = d[key]
        if key == "leg_count":
            try:
                value = "multi" if int(value) > 1 else "single"
            except (TypeError, ValueError):
                value = "?"
        parts.append(f"{key}={normalize_text(value)}")
        keyed = keyed or key not in ("order_class", "leg_count", "asset_class", "purpose")
    if not keyed:  # nothing structured to go on: the message itself, numbers blanked
        parts.append(f"summary={normalize_text(failure.summary)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]
