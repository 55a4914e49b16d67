"""``stockbot run`` as a process: SIGTERM stops it cleanly with exit 0; start-up refusals exit
non-zero with one clear line (2 = fix the settings, not retried by systemd; 3 = retried)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemonkit import T0
from simfixtures import make_sim_thread  # noqa: F401 - pytest fixture

from stockbot import config
from stockbot.daemon import EXIT_CONFIG, EXIT_REFUSED, run_daemon
from stockbot.sim.accounts import DEMO_KEY_ID, DEMO_SECRET
from stockbot.store import Store

REPO = Path(__file__).resolve().parents[2]


def write_env(account: str, url: str, *, secret: str = DEMO_SECRET, **extra: str) -> Path:
    values = {"ALPACA_API_KEY": DEMO_KEY_ID, "ALPACA_SECRET_KEY": secret, "ALPACA_BASE_URL": url,
              "ALPACA_STREAM_URL": url.replace("http://", "ws://") + "/v2/iex",
              # jobs never fire by themselves here; health runs every second
              "SCHEDULE_DECISION_CRON": "0 0 1 1 *", "SCHEDULE_EOD_CRON": "0 0 1 1 *",
              "SCHEDULE_MANAGE_INTERVAL_S": "3600", "SCHEDULE_RECONCILE_INTERVAL_S": "3600",
              "SCHEDULE_HEALTH_INTERVAL_S": "1", **extra}
    path = config.env_file_path(account)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


@pytest.mark.slow
def test_sigterm_stops_the_daemon_cleanly_with_exit_0(make_sim_thread, notify_socket):  # noqa: F811
    sim = make_sim_thread(seed=3, always_open=True, start_at=T0, freeze=True, quote_rate=5)
    write_env("sig", sim.url)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_socket.path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "stockbot.cli", "run", "--account", "sig"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while "READY=1" not in notify_socket.lines():
            assert proc.poll() is None, f"daemon exited early:\n{proc.stdout.read()}"
            assert time.monotonic() < deadline, "no READY=1 within 90 s"
            time.sleep(0.1)
        while "WATCHDOG=1" not in notify_socket.lines() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    lines = notify_socket.lines()
    assert "WATCHDOG=1" in lines and "STOPPING=1" in lines
    assert lines.index("STOPPING=1") > lines.index("READY=1")
    with Store.for_account("sig", readonly=True) as store:
        kinds = [e.kind for e in store.events()]
        [stop] = store.events(kind="daemon_stop")
    assert kinds.index("daemon_ready") < kinds.index("daemon_stop") and kinds[-1] == "daemon_stop"
    assert stop.payload["reason"] == "SIGTERM" and stop.payload["orders_in_flight"] == []
    assert DEMO_SECRET not in out  # the secret never reaches the journal


def test_refuses_to_start_when_reconciliation_fails(make_sim_thread, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("STOCKBOT_ACCOUNT", "placeholder")  # run_daemon exports it: restore after the test
    sim = make_sim_thread(seed=3, always_open=True, start_at=T0, freeze=True)
    sim.admin("POST", "/_sim/faults", {"kind": "http_error", "method": "GET", "path": "/v2/positions", "status": 500})
    write_env("refuse", sim.url)
    rc = run_daemon("refuse")
    err = capsys.readouterr().err
    assert rc == EXIT_REFUSED
    assert "refusing to start account refuse: start-up reconciliation failed" in err and "positions" in err
    assert os.environ["STOCKBOT_ACCOUNT"] == "refuse"
    with Store.for_account("refuse", readonly=True) as store:
        assert [e.kind for e in store.events()][-2:] == ["startup_refused", "lesson_captured"]
        assert store.events(kind="daemon_ready") == []
    # every attempt was a read: nothing was sent to the broker
    assert [r for r in sim.state.requests.query(method="POST") if r["path"].startswith("/v2/")] == []
    [lesson] = refusal_lessons("refuse")  # the next start (and the next decision) can read it
    assert "start-up reconciliation failed" in lesson and "startup_refused" in lesson


def refusal_lessons(account: str) -> list[str]:
    """Texts of the lesson files a refused start-up wrote into ``account``'s own lessons dir."""
    d = config.account_paths(account)["lessons"]
    return [p.read_text() for p in sorted(d.glob("LL-*.md"))] if d.exists() else []


def test_a_damaged_state_file_exits_2_names_it_and_is_recorded_as_a_lesson(make_sim_thread, monkeypatch,  # noqa: F811
                                                                           capsys):
    # Found by the chaos suite: exit 3 let systemd restart a daemon that could never start.
    monkeypatch.setenv("STOCKBOT_ACCOUNT", "placeholder")
    sim = make_sim_thread(seed=3, always_open=True, start_at=T0, freeze=True)
    write_env("damaged", sim.url)
    db = config.account_paths("damaged")["state_db"]
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")  # truncated: must not be taken for a new, empty account
    rc = run_daemon("damaged")
    err = capsys.readouterr().err
    assert rc == EXIT_CONFIG and str(db) in err and "empty (0 bytes)" in err
    assert db.read_bytes() == b""
    [lesson] = refusal_lessons("damaged")
    assert "config_error" in lesson and "state database unusable" in lesson
    assert sim.state.requests.query(method="POST") == []


def test_a_state_file_locked_by_another_process_exits_3_once_and_is_recorded(make_sim_thread, monkeypatch,  # noqa: F811
                                                                             capsys):
    # Found by the chaos suite: the refusal read "unexpected error during start-up" and waited on
    # the lock three times (31.8 s with the 10 s busy timeout), and its lesson was never written.
    import sqlite3

    monkeypatch.setenv("STOCKBOT_ACCOUNT", "placeholder")
    sim = make_sim_thread(seed=3, always_open=True, start_at=T0, freeze=True)
    write_env("locked", sim.url)
    db = config.account_paths("locked")["state_db"]
    Store(db).close()
    monkeypatch.setattr(Store, "for_account", classmethod(
        lambda cls, account, readonly=False: cls(config.account_paths(account)["state_db"], readonly=readonly,
                                                 timeout_s=0.3)))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing (or a stuck sqlite3 shell)
    try:
        t0 = time.monotonic()
        rc = run_daemon("locked")
        elapsed = time.monotonic() - t0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert rc == EXIT_REFUSED and "state database busy" in err and "database is locked" in err
    assert "unexpected error" not in err and elapsed < 5  # one busy wait, not three
    [lesson] = refusal_lessons("locked")
    assert "startup_refused" in lesson and "state database busy" in lesson


def test_a_broken_env_file_is_recorded_as_a_lesson_of_that_account_only(monkeypatch):
    monkeypatch.setenv("STOCKBOT_ACCOUNT", "placeholder")
    path = config.env_file_path("brokenenv")
    path.write_text("RISK_MAX_ORDERS_PER_DAY=many\n")
    with pytest.raises(config.ConfigError, match="RISK_MAX_ORDERS_PER_DAY"):
        run_daemon("brokenenv")
    [lesson] = refusal_lessons("brokenenv")
    assert "RISK_MAX_ORDERS_PER_DAY" in lesson and "configuration error" in lesson
    root = config.accounts_root()
    assert [p.name for p in root.iterdir()] == ["brokenenv"]  # nothing landed in another account


def test_keys_the_broker_refuses_exit_2_so_systemd_does_not_retry(make_sim_thread, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("STOCKBOT_ACCOUNT", "placeholder")
    sim = make_sim_thread(seed=3, always_open=True, start_at=T0, freeze=True)
    write_env("badkey", sim.url, secret="not-the-secret")
    rc = run_daemon("badkey")
    err = capsys.readouterr().err
    assert rc == EXIT_CONFIG
    assert "the broker refused this account's keys" in err and "not-the-secret" not in err
    [lesson] = refusal_lessons("badkey")
    assert "the broker refused this account's keys" in lesson and "not-the-secret" not in lesson
