"""A corrupted or locked state database: a clear error, never a silent repair, never data loss.

Corruption: a database with real history is damaged in several ways (garbage header, a page of
random bytes, a torn page header, truncation, a text file). The store must refuse to open it with
a ``StoreError`` naming the file, and the file's bytes must be exactly what they were (so the
operator's copy/recovery is still possible); the CLI must say so in one line.

Locks: another process holds the database. A write lock (``BEGIN EXCLUSIVE``; WAL readers still
read) must make a write fail after the busy timeout with an error that says the database is
locked, and nothing else; an exclusive-mode lock must make the open fail the same way. After the
lock goes away the file passes SQLite's integrity check with every event still there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from stockbot.chaos.inputs import GOOD, _env_text, last_line, run_cli, uncaught
from stockbot.chaos.invariants import integrity
from stockbot.chaos.rig import Workspace, write_private
from stockbot.store import Store, StoreError

EVENTS = 2000


def _garble_header(b: bytearray) -> None:
    b[0:16] = os.urandom(16)


def _garble_page(b: bytearray) -> None:
    off = 4096 * 5
    b[off:off + 4096] = os.urandom(4096)


def _garble_page_header(b: bytearray) -> None:
    off = 4096 * 20
    b[off:off + 8] = b"\xff" * 8


def _truncate(b: bytearray) -> None:
    del b[len(b) // 2 + 100:]


def _text(b: bytearray) -> None:
    b[:] = b"this is a text file, not an SQLite database\n"


def _empty(b: bytearray) -> None:
    b.clear()  # SQLite would take a 0-byte file for a new, empty database


CORRUPTIONS: list[tuple[str, Callable[[bytearray], None]]] = [
    ("header overwritten", _garble_header), ("one page of random bytes", _garble_page),
    ("a page header torn", _garble_page_header), ("truncated to half", _truncate), ("a text file", _text),
    ("truncated to 0 bytes", _empty),
]
RUN_CASES = {"header overwritten", "one page of random bytes", "truncated to 0 bytes"}


def _history(db: Path) -> None:
    with Store(db) as store:
        for i in range(EVENTS):
            store.append_event("history", {"i": i, "note": "x" * 200})


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corrupted_cases(workdir: Path) -> list[dict[str, Any]]:
    """Each corruption: Store(), ``stockbot status`` (which lists the error, naming the file) and,
    for RUN_CASES, ``stockbot run`` (which must refuse with exit 2: retrying cannot repair a file)."""
    rows = []
    for i, (name, damage) in enumerate(CORRUPTIONS):
        ws = Workspace(workdir / f"db-{i}", account="dbx")
        ws.state_db.parent.mkdir(parents=True, exist_ok=True)
        _history(ws.state_db)
        data = bytearray(ws.state_db.read_bytes())
        damage(data)
        ws.state_db.write_bytes(bytes(data))
        before = _sha(ws.state_db)
        problems: list[str] = []
        t0 = time.monotonic()
        try:
            Store(ws.state_db).close()
            message = "opened without an error"
            problems.append("a corrupt database was opened")
        except StoreError as exc:
            message = str(exc)
            if str(ws.state_db) not in message:
                problems.append("the error does not name the file")
        except Exception as exc:  # noqa: BLE001 - any other exception is an unclear error
            message = f"{type(exc).__name__}: {exc}"
            problems.append("not a StoreError")
        secs = round(time.monotonic() - t0, 3)
        rc, out, _ = run_cli(["status", "--account", "dbx"], ws.environ())
        if str(ws.state_db) not in out or uncaught(out):  # status reports the error in its listing
            problems.append(f"stockbot status: exit {rc}, {last_line(out)!r}")
        row = {"case": name, "exit_code": rc, "seconds": secs, "message": message[:240]}
        if name in RUN_CASES:
            write_private(ws.env_dir / ".env.dbx", _env_text(GOOD))
            rc_run, out_run, secs_run = run_cli(["run", "--account", "dbx"], ws.environ())
            row["run"] = {"exit_code": rc_run, "seconds": secs_run, "message": last_line(out_run)}
            if rc_run != 2 or uncaught(out_run) or str(ws.state_db) not in out_run:
                problems.append(f"stockbot run: exit {rc_run}, {last_line(out_run)!r}")
        if _sha(ws.state_db) != before:
            problems.append("the file's bytes changed (a repair or a rewrite happened)")
        rows.append({**row, "bytes_untouched": _sha(ws.state_db) == before, "ok": not problems,
                     "problems": problems})
    return rows


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive-mode":
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO events(ts, kind, payload) VALUES ('t', 'locker', '{}')")
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
db.execute("ROLLBACK")
"""


def _locker(db: Path, mode: str, hold_s: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), mode, str(hold_s)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "locked":
        raise RuntimeError("the locking process did not take its lock")
    return proc


def _attempt(fn: Callable[[], Any]) -> tuple[str, float]:
    t0 = time.monotonic()
    try:
        fn()
        return "succeeded", round(time.monotonic() - t0, 2)
    except Exception as exc:  # noqa: BLE001 - the kind of error is what is being judged
        return f"{type(exc).__name__}: {exc}", round(time.monotonic() - t0, 2)


def locked_cases(workdir: Path, busy_timeout_s: float = 2.0, with_cli: bool = True) -> list[dict[str, Any]]:
    """A write lock and an exclusive-mode lock held by another process."""
    rows = []
    for mode in ("write-lock", "exclusive-mode"):
        ws = Workspace(workdir / f"lock-{mode}", account="lck")
        ws.state_db.parent.mkdir(parents=True, exist_ok=True)
        _history(ws.state_db)
        hold = busy_timeout_s * 3 + (60 if with_cli and mode == "write-lock" else 0)
        locker = _locker(ws.state_db, mode, hold)
        problems: list[str] = []

        def write() -> None:
            with Store(ws.state_db, timeout_s=busy_timeout_s) as store:
                store.append_event("blocked_write", {})

        result, secs = _attempt(write)
        if "locked" not in result:
            problems.append("the error does not say the database is locked")
        if secs < busy_timeout_s * 0.9 or secs > busy_timeout_s + 5:
            problems.append(f"failed after {secs}s, not after the {busy_timeout_s}s busy timeout")
        row: dict[str, Any] = {"case": f"{mode} held by another process", "exit_code": None, "seconds": secs,
                               "message": result[:240], "store_error": result.startswith(("StoreError", "StoreLocked")),
                               "names_file": str(ws.state_db) in result}
        if mode == "write-lock":
            reader, _ = _attempt(lambda: Store(ws.state_db, readonly=True, timeout_s=busy_timeout_s).close())
            row["readers_still_read"] = reader == "succeeded"
            if with_cli:
                row["cli"] = _cli_under_lock(ws)
                problems += [p for c in row["cli"] for p in c["problems"]]
        locker.terminate()  # the holder dies mid-transaction: its write must vanish, nothing else
        locker.wait(30)
        check = integrity(ws.state_db)
        with Store(ws.state_db) as store:
            kinds = [e.kind for e in store.events()]
            store.append_event("after_lock", {})
        if check != "ok":
            problems.append(f"integrity check after the lock: {check}")
        if kinds.count("history") != EVENTS or "locker" in kinds or "blocked_write" in kinds:
            problems.append(f"history changed: {len(kinds)} events")
        rows.append({**row, "integrity_after": check, "events_after": kinds.count("history"),
                     "ok": not problems, "problems": problems})
    return rows


def _cli_under_lock(ws: Workspace) -> list[dict[str, Any]]:
    """``stockbot status``, ``stop`` and ``run`` while another process holds the write lock (the
    CLI's busy timeout is the store's default, 10 s)."""
    write_private(ws.env_dir / ".env.lck", _env_text(GOOD))
    out_rows = []
    for args, want in ((["status", "--account", "lck"], (0,)), (["stop", "--account", "lck"], (2,)),
                       (["run", "--account", "lck"], (2, 3))):
        rc, out, secs = run_cli(args, ws.environ())
        problems = []
        if rc not in want:
            problems.append(f"stockbot {args[0]}: exit {rc}, expected {' or '.join(map(str, want))}")
        if uncaught(out):
            problems.append(f"stockbot {args[0]}: traceback instead of a one-line error")
        if rc != 0 and "locked" not in out:
            problems.append(f"stockbot {args[0]}: the message does not say the database is locked")
        out_rows.append({"command": f"stockbot {' '.join(args)}", "exit_code": rc, "seconds": secs,
                         "message": last_line(out), "problems": problems})
    return out_rows
