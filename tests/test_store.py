"""State store: schema, orders before POST, read-only readers, crash safety under SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from stockbot.domain import Leg, OrderClass, OrderIntent, Side
from stockbot.store import SCHEMA_VERSION, Store, StoreError, StoreLocked


def test_schema_is_versioned_and_wal(tmp_path):
    with Store(tmp_path / "s.db") as s:
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert s._version() == SCHEMA_VERSION
    with Store(tmp_path / "s.db") as s:  # reopening migrates nothing and keeps data
        assert s._version() == SCHEMA_VERSION


def test_refuses_newer_schema(tmp_path):
    db = sqlite3.connect(tmp_path / "n.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "n.db")


def test_corrupted_database_is_a_clear_error(tmp_path):
    path = tmp_path / "c.db"
    with Store(path) as s:
        for i in range(50):
            s.append_event("x", {"i": i})
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage-garbage!"
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=str(path)):
        Store(path)


def test_order_intent_is_recorded_before_and_unique(tmp_path):
    intent = OrderIntent(client_order_id="acct-d1-entry-1", qty=Decimal(1), order_class=OrderClass.MLEG,
                         legs=(Leg("SPY251219P00550000", Side.SELL), Leg("SPY251219P00545000", Side.BUY)),
                         limit_price=Decimal("-1.20"), decision_id="d1", purpose="entry")
    with Store(tmp_path / "o.db") as s:
        s.record_order_intent(intent)
        row = s.get_order("acct-d1-entry-1")
        assert row.status == "submitting" and row.intent["legs"][0]["side"] == "sell"
        assert row.limit_price == Decimal("-1.20")
        with pytest.raises(StoreError, match="already recorded"):
            s.record_order_intent(intent)
        s.update_order("acct-d1-entry-1", status="filled", broker_id="abc", filled_qty=Decimal(1))
        assert s.get_order("acct-d1-entry-1").status == "filled"
        assert [e.kind for e in s.events()] == ["order_intent", "order_update"]
        with pytest.raises(StoreError):
            s.update_order("nope", status="x")
        with pytest.raises(ValueError):
            s.update_order("acct-d1-entry-1", colour="red")


def test_decisions_votes_trades_equity(tmp_path):
    from datetime import datetime, timezone
    with Store(tmp_path / "d.db") as s:
        s.record_decision("d1", strategy="condor", action="HOLD", params={"delta": 0.16}, reason="1/3",
                          lessons=[{"id": "LL-221", "score": 0.8}], prompt="p")
        s.record_vote("d1", agent="a", model="m", action="HOLD", confidence=None, latency_s=0.1,
                      prompt_tokens=None, completion_tokens=None, cost_usd=None, vote=None, raw_sha256=None,
                      error="timeout")
        assert s.decisions()[0].lessons[0]["id"] == "LL-221"
        assert s.votes("d1")[0].error == "timeout"
        s.record_trade(structure_id="c1", strategy="condor", qty=Decimal(1), legs=[{"symbol": "X", "qty": "1"}])
        s.record_trade(structure_id="c1", status="closed", pnl=Decimal("41.00"))
        assert s.trades(status="closed")[0].pnl == Decimal("41.00")
        s.record_equity(datetime(2026, 1, 2, tzinfo=timezone.utc), Decimal("100000"), Decimal("90000"))
        assert s.equity_curve()[0][1] == Decimal("100000")


def test_reader_is_read_only_and_does_not_block_writer(tmp_path):
    path = tmp_path / "r.db"
    writer = Store(path)
    writer.append_event("a", {})
    reader = Store(path, readonly=True)
    reader._db.execute("BEGIN")  # a long read transaction in progress...
    assert len(reader.events()) == 1
    writer.append_event("b", {})  # ...does not block the writer (WAL)
    with pytest.raises(StoreError):
        reader.append_event("c", {})
    reader._db.execute("COMMIT")
    assert len(reader.events()) == 2
    reader.close()
    writer.close()


def test_readonly_open_of_missing_db_is_clear(tmp_path):
    with pytest.raises(StoreError, match="no state database"):
        Store(tmp_path / "missing.db", readonly=True)


CHILD = r"""
import sys
from stockbot.store import Store
s = Store(sys.argv[1])
i = 0
while True:
    seq = s.append_event("tick", {"i": i, "pad": "x" * (i % 500)})
    sys.stdout.write(f"{seq}\n"); sys.stdout.flush()
    i += 1
"""


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_committed_event(tmp_path):
    """A child appends events and reports each committed seq; we SIGKILL it at random points."""
    path = tmp_path / "crash.db"
    rng = random.Random(1234)
    reported: set[int] = set()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _ in range(25):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 20
        target = rng.randint(1, 60)
        got = 0
        assert proc.stdout is not None
        while got < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reported.add(int(line))
            got += 1
        time.sleep(rng.random() * 0.02)  # land the kill anywhere in the write loop
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
        reported.update(int(x) for x in rest.split())  # lines flushed before the kill are committed too
        with Store(path) as s:  # opens cleanly (integrity check) after every kill
            seqs = {e.seq for e in s.events()}
        assert reported <= seqs, f"lost {sorted(reported - seqs)[:5]}"
    assert len(reported) >= 25


def test_a_write_under_another_process_lock_is_a_clear_store_error(tmp_path):
    """Found by the chaos suite: a locked write raised a raw sqlite3.OperationalError."""
    path = tmp_path / "locked.db"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreLocked, match=str(path)):  # may clear by itself: the daemon may retry
            store = Store(path, timeout_s=0.2)
            store.append_event("x", {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_empty_state_file_is_refused_not_taken_for_a_new_account(tmp_path):
    """Found by the chaos suite: a truncated (0-byte) state.db opened as a new empty database, so
    a restarted daemon would have forgotten every order and trade it had."""
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="empty") as err:
        Store(path)
    assert not isinstance(err.value, StoreLocked) and str(path) in str(err.value)
    assert path.stat().st_size == 0  # left exactly as found for the operator


def test_a_new_database_is_created_whole_and_nothing_is_left_beside_it(tmp_path):
    path = tmp_path / "acct" / "state.db"
    with Store(path) as store:
        store.append_event("hello", {})
    assert path.stat().st_size > 0
    assert sorted(p.name for p in path.parent.iterdir() if "creating" in p.name) == []
    with Store(path) as store:  # reopening an existing database does not recreate it
        assert [e.kind for e in store.events()] == ["hello"]




def test_an_account_dir_that_cannot_be_created_is_a_store_error_not_a_traceback(tmp_path):
    blocker = tmp_path / "acct"
    blocker.write_text("a file where the account's directory should be")
    with pytest.raises(StoreError, match="cannot create state database"):
        Store(blocker / "state.db")
