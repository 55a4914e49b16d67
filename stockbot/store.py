"""SQLite state store: one database per account, WAL mode, synchronous=FULL.

The ``events`` table is append-only and is the audit trail; the other tables are the current view
(orders keyed by client_order_id, decisions, votes, trades, equity snapshots). A write that returned
has been committed and fsynced, so a crash right after it loses nothing (tested with SIGKILL).
Readers (status, dashboard) open the file read-only through ``mode=ro`` and never block a writer.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from stockbot.errors import StockbotError
from stockbot.config import ConfigError, account_paths, accounts_root
from stockbot.domain import LocalOrderStatus, OrderIntent, TradeStatus, utcnow
from stockbot.fsutil import fsync_dir
from stockbot.store_llm import LLM_CALLS_MIGRATION
from stockbot.store_rows import DecisionRow, OrderRow, TradeRow, VoteRow

SCHEMA_VERSION = 2


class StoreError(StockbotError):
    """The state database cannot be used (corrupt, locked, wrong schema); message is for operators.

    Caller: operator fix (stop trading: nothing unrecorded may be sent).
    """


class StoreLocked(StoreError):
    """Another process holds the database's lock: unlike damage, this can clear by itself.

    Caller: retry (after the busy timeout; an operator fix if the holder never lets go).
    """


def _db_error(path: Path, what: str, exc: sqlite3.Error) -> StoreError:
    locked = "locked" in str(exc) or "busy" in str(exc)
    return (StoreLocked if locked else StoreError)(f"{path}: {what}: {exc}")


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: datetime
    kind: str
    payload: dict[str, Any]


MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX events_kind ON events(kind, seq);
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        created_ts TEXT NOT NULL,
        updated_ts TEXT NOT NULL,
        decision_id TEXT,
        purpose TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        broker_id TEXT,
        symbol TEXT,
        order_class TEXT NOT NULL,
        qty TEXT NOT NULL,
        limit_price TEXT,
        filled_qty TEXT,
        filled_avg_price TEXT,
        intent TEXT NOT NULL,
        raw TEXT
    );
    CREATE INDEX orders_status ON orders(status);
    CREATE TABLE decisions (
        decision_id TEXT PRIMARY KEY,
        ts TEXT NOT NULL,
        strategy TEXT NOT NULL,
        action TEXT NOT NULL,
        params TEXT NOT NULL,
        reason TEXT NOT NULL,
        context TEXT,
        lessons TEXT,
        prompt TEXT
    );
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        decision_id TEXT NOT NULL,
        ts TEXT NOT NULL,
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        action TEXT NOT NULL,
        confidence REAL,
        latency_s REAL NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost_usd REAL,
        vote TEXT,
        raw_sha256 TEXT,
        error TEXT
    );
    CREATE INDEX votes_decision ON votes(decision_id);
    CREATE TABLE trades (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        structure_id TEXT NOT NULL,
        strategy TEXT NOT NULL,
        opened_ts TEXT NOT NULL,
        closed_ts TEXT,
        status TEXT NOT NULL,
        entry_client_order_id TEXT,
        exit_client_order_id TEXT,
        qty TEXT NOT NULL,
        entry_price TEXT,
        exit_price TEXT,
        pnl TEXT,
        legs TEXT NOT NULL,
        meta TEXT,
        UNIQUE(structure_id)
    );
    CREATE TABLE equity (
        ts TEXT PRIMARY KEY,
        equity TEXT NOT NULL,
        cash TEXT NOT NULL
    );
    """,
    2: LLM_CALLS_MIGRATION,  # every raw LLM answer, for audit, replay and the daily budget
}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """JSON with Decimal/datetime/enum/dataclass support, stable key order."""
    return json.dumps(obj, default=_json_default, sort_keys=True, separators=(",", ":"))


def _ts(dt: datetime | None = None) -> str:
    return (dt or utcnow()).astimezone(timezone.utc).isoformat()


def _refuse_empty(path: Path) -> None:
    """A state.db of 0 bytes (and no write-ahead log) is damage, not a new account.

    SQLite would silently treat it as an empty database, and the daemon would start with no memory
    of its orders and trades. stockbot never leaves such a file behind itself (``_create``)."""
    wal = Path(f"{path}-wal")
    if path.exists() and path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        raise StoreError(f"{path}: exists but is empty (0 bytes): the state database was truncated or damaged; "
                         "restore it from a backup, or move it aside to start this account with no history")


def _create(path: Path) -> None:
    """Create a new database under a temporary name and link it into place, so a crash while
    creating can never leave the 0-byte ``state.db`` that ``_refuse_empty`` refuses."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.creating-", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    db = sqlite3.connect(tmp)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # writes the header page; WAL is persistent
    finally:
        db.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a database another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


class Store:
    """One account's state database. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path, *, readonly: bool = False, timeout_s: float = 10.0):
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"{self.path}: no state database yet")
                _refuse_empty(self.path)
                uri = f"file:{self.path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)
                self._db.execute("PRAGMA query_only=ON")
            else:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    _refuse_empty(self.path)
                    if not self.path.exists():
                        _create(self.path)
                except OSError as exc:  # e.g. a directory this user cannot write
                    raise StoreError(f"{self.path}: cannot create state database: {exc.strerror or exc}") from exc
                self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False,
                                           isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout=%d" % int(timeout_s * 1000))
            self._check_integrity()
            if not readonly:
                self._migrate()
            else:
                self._check_version()
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, "cannot open state database", exc) from exc

    @classmethod
    def for_account(cls, account: str | None, *, readonly: bool = False) -> "Store":
        """Open ``memory_dir(account)/state.db`` (the only place an account's state lives)."""
        return cls(account_paths(account)["state_db"], readonly=readonly)

    # ------------------------------------------------------------------ schema

    def _check_integrity(self) -> None:
        row = self._db.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise StoreError(f"{self.path}: integrity check failed: {row[0] if row else 'no answer'}")

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema v{version} is newer than this stockbot (v{SCHEMA_VERSION})")

    def _migrate(self) -> None:
        self._check_version()
        version = self._version()
        for target in sorted(v for v in MIGRATIONS if v > version):
            # executescript commits any open transaction first, so the script carries its own.
            try:
                self._db.executescript(f"BEGIN IMMEDIATE;{MIGRATIONS[target]};PRAGMA user_version={target};COMMIT;")
            except sqlite3.DatabaseError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ plumbing

    def _tx(self) -> "_Tx":
        return _Tx(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        with self._lock, self._tx():
            return self._db.execute(sql, params)

    def _rows(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, params).fetchall()]

    # ------------------------------------------------------------------ events

    def append_event(self, kind: str, payload: dict[str, Any] | None = None) -> int:
        """Append one event; returns its sequence number once it is durably committed."""
        cur = self._write("INSERT INTO events(ts, kind, payload) VALUES (?,?,?)",
                          (_ts(), kind, dumps(payload or {})))
        return int(cur.lastrowid)

    def events(self, *, since: int = 0, kind: str | None = None, limit: int | None = None) -> list[Event]:
        """Events with seq > ``since`` in order (optionally one kind, at most ``limit``)."""
        sql = "SELECT seq, ts, kind, payload FROM events WHERE seq > ?"
        params: list[Any] = [since]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Event(r["seq"], datetime.fromisoformat(r["ts"]), r["kind"], json.loads(r["payload"]))
                for r in self._rows(sql, tuple(params))]

    def last_events(self, n: int = 10) -> list[Event]:
        rows = self._rows("SELECT seq, ts, kind, payload FROM events ORDER BY seq DESC LIMIT ?", (n,))
        return [Event(r["seq"], datetime.fromisoformat(r["ts"]), r["kind"], json.loads(r["payload"]))
                for r in reversed(rows)]

    # ------------------------------------------------------------------ orders

    def record_order_intent(self, intent: OrderIntent, *, status: str = LocalOrderStatus.SUBMITTING) -> None:
        """Write the intent (and its client_order_id) BEFORE the order is sent to the broker.

        A duplicate client_order_id raises StoreError: it means this exact order was already
        attempted and must be looked up at the broker, never re-sent.
        """
        now = _ts()
        try:
            with self._lock, self._tx():
                self._db.execute(
                    "INSERT INTO orders(client_order_id, created_ts, updated_ts, decision_id, purpose, status,"
                    " symbol, order_class, qty, limit_price, intent) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (intent.client_order_id, now, now, intent.decision_id, intent.purpose, status,
                     intent.symbol, intent.order_class.value, str(intent.qty),
                     None if intent.limit_price is None else str(intent.limit_price), dumps(intent)),
                )
                self._db.execute("INSERT INTO events(ts, kind, payload) VALUES (?,?,?)",
                                 (now, "order_intent", dumps({"client_order_id": intent.client_order_id,
                                                              "status": status, "purpose": intent.purpose})))
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"client_order_id {intent.client_order_id!r} already recorded") from exc

    ORDER_FIELDS = ("status", "broker_id", "filled_qty", "filled_avg_price", "raw", "limit_price")

    def update_order(self, client_order_id: str, **fields: Any) -> None:
        """Update an order's broker-side facts (status, broker_id, fills, raw JSON)."""
        bad = set(fields) - set(self.ORDER_FIELDS)
        if bad:
            raise ValueError(f"unknown order fields: {sorted(bad)}")
        values = {k: (dumps(v) if k == "raw" else (None if v is None else str(v))) for k, v in fields.items()}
        sets = ", ".join(f"{k} = :{k}" for k in values)
        values["cid"] = client_order_id
        values["now"] = _ts()
        with self._lock, self._tx():
            cur = self._db.execute(f"UPDATE orders SET {sets}, updated_ts = :now WHERE client_order_id = :cid",
                                   values)
            if cur.rowcount != 1:
                raise StoreError(f"unknown client_order_id {client_order_id!r}")
            self._db.execute("INSERT INTO events(ts, kind, payload) VALUES (?,?,?)",
                             (values["now"], "order_update",
                              dumps({"client_order_id": client_order_id,
                                     **{k: v for k, v in fields.items() if k != "raw"}})))

    def get_order(self, client_order_id: str) -> OrderRow | None:
        """The order with this client id, or None."""
        rows = self._rows("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return OrderRow.from_db(rows[0]) if rows else None

    def orders(self, *, status: str | None = None) -> list[OrderRow]:
        """Every order (optionally of one status), oldest first."""
        if status:
            rows = self._rows("SELECT * FROM orders WHERE status = ? ORDER BY created_ts", (status,))
        else:
            rows = self._rows("SELECT * FROM orders ORDER BY created_ts")
        return [OrderRow.from_db(r) for r in rows]

    # ------------------------------------------------------------------ decisions and votes

    def record_decision(self, decision_id: str, *, strategy: str, action: str, params: dict, reason: str,
                        context: dict | None = None, lessons: list[dict] | None = None,
                        prompt: str | None = None) -> None:
        """Record a decision with the lessons and prompt it was made with."""
        now = _ts()
        with self._lock, self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO decisions(decision_id, ts, strategy, action, params, reason, context,"
                " lessons, prompt) VALUES (?,?,?,?,?,?,?,?,?)",
                (decision_id, now, strategy, action, dumps(params), reason,
                 None if context is None else dumps(context), None if lessons is None else dumps(lessons), prompt),
            )
            self._db.execute("INSERT INTO events(ts, kind, payload) VALUES (?,?,?)",
                             (now, "decision", dumps({"decision_id": decision_id, "action": action,
                                                      "reason": reason})))

    def record_vote(self, decision_id: str, *, agent: str, model: str, action: str, confidence: float | None,
                    latency_s: float, prompt_tokens: int | None, completion_tokens: int | None,
                    cost_usd: float | None, vote: dict | None, raw_sha256: str | None, error: str | None) -> None:
        """Record one agent's vote (failures included: they are HOLD with an error)."""
        self._write(
            "INSERT INTO votes(decision_id, ts, agent, model, action, confidence, latency_s, prompt_tokens,"
            " completion_tokens, cost_usd, vote, raw_sha256, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (decision_id, _ts(), agent, model, action, confidence, latency_s, prompt_tokens, completion_tokens,
             cost_usd, None if vote is None else dumps(vote), raw_sha256, error),
        )

    def votes(self, decision_id: str) -> list[VoteRow]:
        """The votes on one decision, in the order they were recorded."""
        rows = self._rows("SELECT * FROM votes WHERE decision_id = ? ORDER BY id", (decision_id,))
        return [VoteRow.from_db(r) for r in rows]

    def decisions(self, limit: int = 50) -> list[DecisionRow]:
        """The latest ``limit`` decisions, newest first."""
        rows = self._rows("SELECT * FROM decisions ORDER BY ts DESC LIMIT ?", (limit,))
        return [DecisionRow.from_db(r) for r in rows]

    # ------------------------------------------------------------------ trades and equity

    TRADE_FIELDS = ("structure_id", "strategy", "opened_ts", "closed_ts", "status", "entry_client_order_id",
                    "exit_client_order_id", "qty", "entry_price", "exit_price", "pnl", "legs", "meta")

    def record_trade(self, **fields: Any) -> None:
        """Insert or update a trade (one structure: a condor or a stock position) by structure_id."""
        bad = set(fields) - set(self.TRADE_FIELDS)
        if bad or "structure_id" not in fields:
            raise ValueError(f"bad trade fields: {sorted(bad) or 'structure_id missing'}")
        enc = {k: (dumps(v) if k in ("legs", "meta") else (_ts(v) if isinstance(v, datetime) else
                                                            (None if v is None else str(v))))
               for k, v in fields.items()}
        existing = self._rows("SELECT structure_id FROM trades WHERE structure_id = ?", (enc["structure_id"],))
        if existing:
            sets = ", ".join(f"{k} = :{k}" for k in enc if k != "structure_id")
            self._write(f"UPDATE trades SET {sets} WHERE structure_id = :structure_id", enc)
        else:
            enc.setdefault("opened_ts", _ts())
            enc.setdefault("status", TradeStatus.OPEN)
            enc.setdefault("legs", "[]")
            enc.setdefault("strategy", "")
            enc.setdefault("qty", "0")
            cols = ", ".join(enc)
            self._write(f"INSERT INTO trades({cols}) VALUES ({', '.join(':' + k for k in enc)})", enc)

    def trades(self, *, status: str | None = None) -> list[TradeRow]:
        """Every trade (optionally of one status), oldest opened first."""
        sql, params = "SELECT * FROM trades", ()
        if status:
            sql, params = sql + " WHERE status = ?", (status,)
        return [TradeRow.from_db(r) for r in self._rows(sql + " ORDER BY opened_ts", params)]

    def record_equity(self, ts: datetime, equity: Decimal, cash: Decimal) -> None:
        self._write("INSERT OR REPLACE INTO equity(ts, equity, cash) VALUES (?,?,?)",
                    (_ts(ts), str(equity), str(cash)))

    def equity_curve(self) -> list[tuple[datetime, Decimal, Decimal]]:
        return [(datetime.fromisoformat(r["ts"]), Decimal(r["equity"]), Decimal(r["cash"]))
                for r in self._rows("SELECT ts, equity, cash FROM equity ORDER BY ts")]


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, re-entrant on one connection (nested use is a no-op)."""

    def __init__(self, store: Store):
        self.store = store
        self.outer = False

    def __enter__(self) -> None:
        db = self.store._db
        if not db.in_transaction:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # e.g. another process holds the write lock
                raise _db_error(self.store.path, "cannot write", exc) from exc
            self.outer = True

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if not self.outer:
            return
        db = self.store._db
        if exc_type is None:
            db.execute("COMMIT")
        else:
            db.execute("ROLLBACK")


def iter_account_dbs(root_accounts: Path | None = None) -> Iterator[tuple[str, Path]]:
    """Yield (account id, state.db path) for every account directory that has a database."""
    root_accounts = root_accounts or accounts_root()
    if not root_accounts.is_dir():
        return
    for child in sorted(root_accounts.iterdir()):
        try:
            db = account_paths(child.name)["state_db"]
        except ConfigError:  # a stray directory that is not a valid account id is not an account
            continue
        if db.exists():
            yield child.name, db
