"""Blast radius: what a guard would have blocked in the account's recorded history.

``stockbot lessons impact ID --days N`` replays, through one lesson's guard, everything the account's
state store (``state.db``) recorded in the last N days:

* every order intent the engine recorded (``orders`` table: the exact intent, its time, its
  decision), with the trade context rebuilt from that decision (strategy, symbol, IV rank);
* every ENTER decision that recorded no order (denied or abandoned before an order existed), as a
  probe entry of its strategy on its symbol, so context-only guards (blocked symbols, entry
  windows, IV floors) show their reach too.

The guard is checked as if confirmed and in force (``check`` minus expiry): an operator sees an
over-broad guard before ``stockbot lessons confirm`` makes it bite. Denials whose reason is that
a fact is unknown in the record (quote age) are counted apart as "undetermined".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

from stockbot.domain import AssetClass, Leg, OrderClass, OrderIntent, PositionIntent, Side, TradeContext
from stockbot.lessons.guards import Guard
from stockbot.store_rows import DecisionRow, OrderRow


@dataclass(frozen=True)
class Replayed:
    """One recorded order (or order-less ENTER decision) and what the guard says about it."""

    ts: datetime
    what: str  # "order" | "decision"
    ref: str  # client_order_id or decision_id
    symbol: str
    strategy: str
    purpose: str
    reason: str | None  # the denial, None = allowed

    def line(self) -> str:
        return (f"{self.ts:%Y-%m-%d %H:%M}Z {self.what:<8} {self.ref:<40} {self.strategy:<7} {self.symbol:<8} "
                f"{self.purpose or '-'}: {self.reason}")


@dataclass(frozen=True)
class Impact:
    lesson_id: str
    days: int
    replayed: int
    blocked: tuple[Replayed, ...]
    undetermined: tuple[Replayed, ...]

    @property
    def dates(self) -> list[str]:
        return sorted({r.ts.date().isoformat() for r in self.blocked})

    def report(self, limit: int = 50) -> str:
        lines = [f"{self.lesson_id}: over the last {self.days} day(s) the guard would have blocked "
                 f"{len(self.blocked)} of {self.replayed} "
                 f"recorded order(s)/entry decision(s)"
                 + (f" on {len(self.dates)} day(s): {', '.join(self.dates)}" if self.blocked else "")]
        lines += ["  " + r.line() for r in self.blocked[:limit]]
        if len(self.blocked) > limit:
            lines.append(f"  ... and {len(self.blocked) - limit} more")
        if self.undetermined:
            lines.append(f"{len(self.undetermined)} more could not be judged from the record "
                         f"(e.g. {self.undetermined[0].reason})")
        return "\n".join(lines)


def intent_from_record(raw: str | dict[str, Any]) -> OrderIntent:
    """Rebuild an OrderIntent from the JSON ``Store.record_order_intent`` wrote."""
    d = json.loads(raw) if isinstance(raw, str) else dict(raw)
    legs = tuple(Leg(symbol=x["symbol"], side=Side(x["side"]), ratio_qty=int(x.get("ratio_qty") or 1),
                     position_intent=PositionIntent(x["position_intent"]) if x.get("position_intent") else None)
                 for x in d.get("legs") or ())
    return OrderIntent(
        client_order_id=d["client_order_id"], qty=Decimal(str(d["qty"])), order_type=d.get("order_type") or "market",
        time_in_force=d.get("time_in_force") or "day", symbol=d.get("symbol"),
        side=Side(d["side"]) if d.get("side") else None, legs=legs,
        limit_price=Decimal(str(d["limit_price"])) if d.get("limit_price") is not None else None,
        order_class=OrderClass(d.get("order_class") or "simple"),
        asset_class=AssetClass(d.get("asset_class") or "us_equity"),
        position_intent=PositionIntent(d["position_intent"]) if d.get("position_intent") else None,
        purpose=d.get("purpose") or "", decision_id=d.get("decision_id"))


def _iv_rank(context: dict[str, Any]) -> float | None:
    value = context.get("iv_rank")
    if isinstance(value, dict):
        value = value.get("value")
    return float(value) if isinstance(value, (int, float)) else None


def _trade_ctx(account: str | None, decision: DecisionRow | None, ts: datetime, symbol: str,
               default_strategy: str) -> TradeContext:
    context = (decision.context if decision else None) or {}
    strategy = (decision.strategy if decision else None) or context.get("strategy") or default_strategy
    return TradeContext(account=account, strategy=strategy, symbol=context.get("symbol") or symbol, now=ts,
                        iv_rank=_iv_rank(context), quote_age_s=context.get("quote_age_s"))


def _probe(decision: DecisionRow) -> OrderIntent:
    """A stand-in entry for an ENTER decision that recorded no order."""
    context = decision.context or {}
    symbol = context.get("symbol") or decision.params.get("symbol") or ""
    if decision.strategy == "condor":
        return OrderIntent(client_order_id=decision.decision_id, qty=Decimal(1), order_type="limit",
                           order_class=OrderClass.MLEG, asset_class=AssetClass.OPTION, purpose="entry",
                           decision_id=decision.decision_id)
    return OrderIntent(client_order_id=decision.decision_id, qty=Decimal(1), symbol=symbol, side=Side.BUY,
                       order_type="market", position_intent=PositionIntent.BUY_TO_OPEN, purpose="entry",
                       decision_id=decision.decision_id)


def replay(guard: Guard, orders: Iterable[OrderRow], decisions: Iterable[DecisionRow], *,
           account: str | None, now: datetime, days: int, default_strategy: str = "condor") -> Impact:
    """Run ``guard`` (as if in force) over the recorded orders and decisions of the last ``days``."""
    since = now - timedelta(days=days)
    in_force = replace(guard, expires=None)
    by_decision = {d.decision_id: d for d in decisions}
    with_orders: set[str] = set()
    rows: list[Replayed] = []
    for row in orders:
        ts = row.created_ts
        if row.decision_id:
            with_orders.add(row.decision_id)
        if not since <= ts <= now:
            continue
        intent = intent_from_record(row.intent)
        decision = by_decision.get(intent.decision_id or row.decision_id or "")
        symbol = intent.symbol or (intent.legs[0].symbol if intent.legs else "")
        ctx = _trade_ctx(account, decision, ts, symbol, default_strategy)
        rows.append(Replayed(ts, "order", intent.client_order_id, ctx.symbol, ctx.strategy, intent.purpose,
                             in_force.check(intent, ctx)))
    for d in by_decision.values():
        ts = d.ts
        if d.action != "ENTER" or d.decision_id in with_orders or not since <= ts <= now:
            continue
        probe = _probe(d)
        ctx = _trade_ctx(account, d, ts, probe.symbol or "", default_strategy)
        rows.append(Replayed(ts, "decision", d.decision_id, ctx.symbol, ctx.strategy, "entry (no order)",
                             in_force.check(probe, ctx)))
    rows.sort(key=lambda r: r.ts)
    denied = [r for r in rows if r.reason]
    unknown = tuple(r for r in denied if "unknown" in (r.reason or ""))
    blocked = tuple(r for r in denied if r not in unknown)
    return Impact(guard.lesson_id, days, len(rows), blocked, unknown)


def account_impact(account: str | None, guard: Guard, *, now: datetime, days: int,
                   default_strategy: str = "condor") -> Impact:
    """``replay`` over the account's own state store, opened read-only."""
    from stockbot.store import Store

    store = Store.for_account(account, readonly=True)
    try:
        return replay(guard, store.orders(), store.decisions(limit=1_000_000), account=account, now=now,
                      days=days, default_strategy=default_strategy)
    finally:
        store.close()
