"""The invariants every reliability scenario ends with, checked against the broker (the sim) and
the account's state store. Each check returns counts; every "bad" count must be 0.

* **claims** (``check_claims``): every durable write the daemon reported before it was killed is
  in the database afterwards (events by seq and kind, order intents, order updates, trades), and
  the file opens cleanly (read-only, with SQLite's integrity check).
* **broker** (``check_broker``): every order at the broker has a unique client_order_id known to
  the store (the intent was written first); no decision has more than one filled entry (no double
  condor); every filled entry is booked as a trade and every filled close is the exit (or a
  recorded partial close) of its trade, so no exit price or P&L is lost; the option positions at
  the broker are exactly the legs of the store's open condors (no orphan leg, no naked short, no missing leg); no order
  is left in flight; the store's final order statuses agree with the broker's.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from stockbot.domain import OrderPurpose
from stockbot.trading.deps import IN_FLIGHT
from stockbot.options.occ import is_occ_symbol, parse_occ
from stockbot.store import Store, StoreError
from stockbot.store_rows import TradeRow

FINAL = frozenset({"filled", "canceled", "expired", "rejected", "done_for_day", "replaced"})
NEVER_SENT = frozenset({"not_received"})


@dataclass
class ClaimCheck:
    """Reported writes vs what the database holds after the kill."""

    claimed: int = 0
    lost: list[str] = field(default_factory=list)
    open_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"claimed": self.claimed, "lost": len(self.lost), "lost_examples": self.lost[:5],
                "db_open_error": self.open_error}


def check_claims(db_path: Path, reports: Iterable[str]) -> ClaimCheck:
    """Are all reported writes (``stockbot.chaos.child`` lines) in the database at ``db_path``?"""
    out = ClaimCheck()
    reports = [r for r in reports if r[:2] in ("E ", "I ", "U ", "T ")]
    out.claimed = len(reports)
    if not reports:
        return out
    try:
        store = Store(db_path, readonly=True)  # runs PRAGMA quick_check: a torn file fails here
    except StoreError as exc:
        out.open_error = str(exc)
        out.lost = reports
        return out
    with store:
        kinds = {e.seq: e.kind for e in store.events()}
        updates = {(e.payload.get("client_order_id"), str(e.payload.get("status")))
                   for e in store.events(kind="order_update")}
        intents = {o.client_order_id for o in store.orders()}
        trades = {t.structure_id for t in store.trades()}
    for line in reports:
        tag, _, rest = line.partition(" ")
        if tag == "E":
            seq, _, kind = rest.partition(" ")
            ok = kinds.get(int(seq)) == kind
        elif tag == "I":
            ok = rest in intents
        elif tag == "U":
            cid, _, status = rest.rpartition(" ")
            ok = (cid, status) in updates or (status == "-" and any(c == cid for c, _ in updates))
        else:
            sid, _, _status = rest.rpartition(" ")
            ok = sid in trades
        if not ok:
            out.lost.append(line)
    return out


def integrity(db_path: Path) -> str:
    """SQLite's full ``PRAGMA integrity_check`` of the file, read-only ("ok" when sound)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


@dataclass
class BrokerCheck:
    broker_orders: int = 0
    entries_filled: int = 0
    open_condors: int = 0
    option_positions: int = 0
    duplicate_client_ids: int = 0
    orders_unknown_to_store: list[str] = field(default_factory=list)
    double_entries: list[str] = field(default_factory=list)
    unbooked_fills: list[str] = field(default_factory=list)
    unbooked_closes: list[str] = field(default_factory=list)
    orphan_legs: list[str] = field(default_factory=list)
    naked_shorts: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    status_mismatches: list[str] = field(default_factory=list)
    integrity: str = ""

    BAD = ("duplicate_client_ids", "orders_unknown_to_store", "double_entries", "unbooked_fills", "unbooked_closes",
           "orphan_legs", "naked_shorts", "in_flight", "status_mismatches")

    def bad_counts(self) -> dict[str, int]:
        out = {}
        for name in self.BAD:
            value = getattr(self, name)
            out[name] = value if isinstance(value, int) else len(value)
        out["integrity_errors"] = 0 if self.integrity == "ok" else 1
        return out

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**{k: v for k, v in data.items() if not isinstance(v, list)}, **self.bad_counts(),
                "examples": {k: v[:3] for k, v in data.items() if isinstance(v, list) and v}}


def check_broker(broker_orders: list[dict[str, Any]], positions: list[dict[str, Any]], db_path: Path) -> BrokerCheck:
    """Compare the broker's orders and positions with the store (see the module docstring)."""
    out = BrokerCheck(broker_orders=len(broker_orders))
    out.integrity = integrity(db_path)
    with Store(db_path, readonly=True) as store:
        rows = {r.client_order_id: r for r in store.orders()}
        trades = store.trades()
    cids = Counter(o["client_order_id"] for o in broker_orders)
    out.duplicate_client_ids = sum(n - 1 for n in cids.values() if n > 1)
    entries: dict[str, list[str]] = defaultdict(list)
    closes: list[tuple[str, str]] = []
    for o in broker_orders:
        cid = o["client_order_id"]
        row = rows.get(cid)
        if row is None:
            out.orders_unknown_to_store.append(f"{cid} {o['status']}")
            continue
        if Decimal(o.get("filled_qty") or 0) > 0 and row.purpose == OrderPurpose.CONDOR_OPEN and row.decision_id:
            entries[row.decision_id].append(cid)
        if Decimal(o.get("filled_qty") or 0) > 0 and row.purpose == OrderPurpose.CONDOR_CLOSE and row.decision_id:
            closes.append((row.decision_id, cid))
        if row.status in FINAL and o["status"] in FINAL and row.status != o["status"]:
            out.status_mismatches.append(f"{cid}: store {row.status}, broker {o['status']}")
        elif row.status in NEVER_SENT:  # the store believes it never arrived: a retry could double it
            out.status_mismatches.append(f"{cid}: store {row.status}, but the broker has it ({o['status']})")
    out.entries_filled = sum(len(v) for v in entries.values())
    out.double_entries = [f"{d}: {', '.join(c)}" for d, c in entries.items() if len(c) > 1]
    booked = {t.structure_id for t in trades}
    out.unbooked_fills = [d for d in entries if d not in booked]
    out.unbooked_closes = [f"{sid}: {cid}" for sid, cid in closes if not _close_booked(trades, sid, cid)]
    out.in_flight = [f"{cid} {r.status}" for cid, r in rows.items() if r.status in IN_FLIGHT]

    expected: dict[str, Decimal] = defaultdict(Decimal)
    open_trades = [t for t in trades if t.status == "open"]
    out.open_condors = len(open_trades)
    for t in open_trades:
        for leg in t.legs:
            expected[leg.symbol] += leg.qty
    held = {p["symbol"]: Decimal(str(p["qty"])) for p in positions if is_occ_symbol(p["symbol"])}
    out.option_positions = len(held)
    for sym in sorted(set(expected) | set(held)):
        want, have = expected.get(sym, Decimal(0)), held.get(sym, Decimal(0))
        if want != have:
            out.orphan_legs.append(f"{sym}: broker {have}, open condors {want}")
    out.naked_shorts = naked_shorts(held)
    return out


def _close_booked(trades: list[TradeRow], structure_id: str, cid: str) -> bool:
    """A filled closing order must be the exit of its trade, or one of its recorded partial closes:
    otherwise its exit price and P&L were lost (the trade open, or closed as "elsewhere")."""
    for t in trades:
        if t.structure_id == structure_id:
            partials = t.meta.get("partial_closes") or []
            return t.exit_client_order_id == cid or any(p.get("client_order_id") == cid for p in partials)
    return False


def naked_shorts(held: dict[str, Decimal]) -> list[str]:
    """Short options not covered by longs of the same underlying, right and expiration."""
    cover: dict[tuple, Decimal] = defaultdict(Decimal)
    short: dict[tuple, Decimal] = defaultdict(Decimal)
    for sym, qty in held.items():
        c = parse_occ(sym)
        key = (c.underlying, c.right, c.expiration)
        if qty > 0:
            cover[key] += qty
        else:
            short[key] += -qty
    return [f"{k[0]} {k[1]} {k[2]}: short {q}, long {cover[k]}" for k, q in short.items() if cover[k] < q]
