"""Persistence of the local exchange (``stockbot sim --state FILE``).

Accounts (settings, cash, positions, orders with their legs, option activities), the order id sequence and the clock
offset survive a restart. The file is JSON, rewritten atomically (temp file + fsync + os.replace +
fsync of the directory) on a short debounce after every mutation and once more on stop, so a
reader never sees a half-written file and a crash loses at most the last debounce window.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockbot.fsutil import atomic_write_text as write_atomic
from stockbot.sim.accounts import AccountSpec, Accounts, SimAccount
from stockbot.sim.exchange_model import SimOrder, SimPosition

VERSION = 1
_DEC_ORDER = {"qty", "limit_price", "stop_price", "filled_qty", "filled_avg_price", "reserved"}
_TS_ORDER = {"created_at", "expires_at", "updated_at", "filled_at", "canceled_at", "expired_at", "failed_at"}


# ------------------------------------------------------------------ encode / decode
def _order_to_dict(order: SimOrder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(SimOrder):
        value = getattr(order, f.name)
        if f.name == "legs":
            value = [_order_to_dict(leg) for leg in value]
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[f.name] = value
    return out


def _order_from_dict(data: dict[str, Any]) -> SimOrder:
    kw = dict(data)
    for name in _DEC_ORDER:
        if kw.get(name) is not None:
            kw[name] = Decimal(kw[name])
    for name in _TS_ORDER:
        if kw.get(name) is not None:
            kw[name] = datetime.fromisoformat(kw[name])
    kw["legs"] = [_order_from_dict(leg) for leg in kw.get("legs", [])]
    return SimOrder(**kw)


def snapshot(accounts: Accounts, *, order_seq: int, clock) -> dict[str, Any]:
    """The whole persistent state as JSON-ready data (call on the event loop)."""
    out = []
    for acct in accounts:
        spec = acct.spec
        out.append({
            "spec": {"key_id": spec.key_id, "secret": spec.secret, "equity": str(spec.equity),
                     "multiplier": spec.multiplier, "shorting": spec.shorting,
                     "options_level": spec.options_level, "account_number": spec.account_number,
                     "rate_limit_per_min": spec.rate_limit_per_min},
            "id": acct.id, "account_number": acct.account_number, "created_at": acct.created_at.isoformat(),
            "cash": str(acct.cash), "last_equity": str(acct.last_equity),
            "balance_asof": acct.balance_asof.isoformat(),
            "positions": [{"symbol": p.symbol, "qty": str(p.qty), "avg_entry_price": str(p.avg_entry_price),
                           "asset_class": p.asset_class} for p in acct.positions.values()],
            "orders": [_order_to_dict(o) for o in acct.orders],
            "activities": acct.activities,  # already JSON (sim/activities.py)
        })
    frozen = getattr(clock, "_frozen_at", None)
    return {"version": VERSION, "order_seq": order_seq,
            "clock": {"offset_s": getattr(clock, "offset_s", 0.0),
                      "frozen_at": frozen.isoformat() if frozen is not None else None},
            "accounts": out}


def restore_accounts(data: dict[str, Any]) -> list[SimAccount]:
    """Rebuild the accounts of a snapshot (orders re-indexed by id and client id)."""
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported sim state version {data.get('version')!r}")
    result = []
    for raw in data["accounts"]:
        acct = SimAccount(spec=AccountSpec.from_dict(raw["spec"]), id=raw["id"],
                          account_number=raw["account_number"],
                          created_at=datetime.fromisoformat(raw["created_at"]), cash=Decimal(raw["cash"]),
                          last_equity=Decimal(raw["last_equity"]),
                          balance_asof=date.fromisoformat(raw["balance_asof"]))
        for p in raw["positions"]:
            acct.positions[p["symbol"]] = SimPosition(p["symbol"], Decimal(p["qty"]),
                                                      Decimal(p["avg_entry_price"]), p["asset_class"])
        for o in raw["orders"]:
            acct.add_order(_order_from_dict(o))
        acct.activities = list(raw.get("activities") or [])
        result.append(acct)
    return result


def load(path: Path) -> dict[str, Any] | None:
    """The snapshot stored at ``path``, or None when there is no file yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


class Persister:
    """Debounced, atomic writes of the sim state to one file."""

    def __init__(self, path: Path, take_snapshot, debounce_s: float = 0.05) -> None:
        self.path = Path(path)
        self._take = take_snapshot
        self.debounce_s = debounce_s
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._writing: asyncio.Future | None = None
        self.writes = 0

    def mark_dirty(self) -> None:
        self._dirty.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce_s)
            self._dirty.clear()
            text = json.dumps(self._take(), separators=(",", ":"))
            self._writing = asyncio.ensure_future(asyncio.to_thread(write_atomic, self.path, text))
            await asyncio.shield(self._writing)
            self.writes += 1

    async def stop(self) -> None:
        """Cancel the writer and write the final state."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._writing is not None and not self._writing.done():
            await self._writing  # a background write must land before the final one
        self.flush()

    def flush(self) -> None:
        write_atomic(self.path, json.dumps(self._take(), separators=(",", ":")))
        self._dirty.clear()
        self.writes += 1
