"""``stockbot status --all``: one table of every account, exit 1 when any is halted or unhealthy
(a health check), read-only; the last alert column comes from the alerter's record."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from stockbot.alerts import Alerter
from stockbot.cli import main
from stockbot.config import AlertSettings, account_paths
from stockbot.domain import utcnow
from stockbot.trading.riskctx import ny_midnight
from stockbot.flags import write_stop
from stockbot.status import fleet_status
from stockbot.store import Store


def _healthy(account: str, now) -> None:
    with Store.for_account(account) as s:
        s.append_event("daemon_start", {"strategy": "condor"})
        s.record_equity(ny_midnight(now) - timedelta(hours=2), Decimal("100000"), Decimal("100000"))
        s.record_equity(now, Decimal("100250.50"), Decimal("90000"))
        s.record_trade(structure_id="ic-1", strategy="condor", status="open", qty="1", opened_ts=now,
                       legs=[{"symbol": "SPY261218C00700000", "qty": "-1"}])
        s.record_decision("d-1", strategy="condor", action="ENTER", params={}, reason="supermajority")
        s.append_event("decision_cycle", {"status": "entered", "decision_id": "d-1"})
        s.append_event("stream_connected", {"feed": "iex"})


def _table(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines()[2:] if line and not line.startswith(("-", " "))
            and "account(s)" not in line}


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_all_healthy_is_exit_0_with_one_row_each(capsys, isolated_roots):
    now = utcnow()
    for acc in ("alpha", "beta"):
        _healthy(acc, now)
    root = Path(isolated_roots)
    before = _tree(root)
    assert main(["status", "--all"]) == 0
    assert _tree(root) == before  # read-only
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["account", "strategy", "state", "STOP"] and "health" in header
    rows = _table(out)
    assert set(rows) == {"alpha", "beta"}
    row = rows["alpha"].split()
    assert row[1:4] == ["condor", "ACTIVE", "-"]
    assert "100,250.50" in rows["alpha"] and "+250.50" in rows["alpha"] and "ENTER->entered" in rows["alpha"]
    assert "fresh" in rows["alpha"] and rows["alpha"].rstrip().endswith("ok")
    assert "all healthy" in out


def test_a_halted_or_unhealthy_account_fails_the_check(capsys):
    now = utcnow()
    _healthy("good", now)
    _healthy("stopped", now)
    write_stop("stopped", "earnings week")
    _healthy("stale", now)
    with Store.for_account("stale") as s:
        s.append_event("stream_stale", {"silence_s": 90})
    _healthy("crashy", now)
    with Store.for_account("crashy") as s:
        s.append_event("job_crash", {"job": "manage", "error": "boom"})
    broken = account_paths("broken")["state_db"]
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a sqlite database at all" * 100)
    rc, text = fleet_status(now=now)
    assert rc == 1
    rows = _table(text)
    assert rows["good"].rstrip().endswith("ok")
    assert "HALTED" in rows["stopped"] and " SET " in rows["stopped"] and "halted" in rows["stopped"]
    assert "stream stale" in rows["stale"]
    assert "manage crashed" in rows["crashy"]
    assert "state unreadable" in rows["broken"] and "UNKNOWN" in rows["broken"]
    assert "NOT healthy: broken, crashy, stale, stopped" in text
    assert main(["status", "--all"]) == 1
    capsys.readouterr()


def test_last_alert_and_a_stopped_daemon(capsys):
    import asyncio

    now = utcnow()
    _healthy("acct", now)
    asyncio.run(Alerter(AlertSettings(), "acct").send("floor_breach", "equity below floor"))
    rc, text = fleet_status(now=now)
    assert rc == 0 and "floor_breach" in _table(text)["acct"]
    with Store.for_account("acct") as s:
        s.append_event("daemon_stop", {"reason": "SIGTERM"})
    rc, text = fleet_status(now=now)
    assert rc == 1 and "daemon stopped" in _table(text)["acct"]


def test_no_accounts_is_not_healthy(capsys):
    assert main(["status", "--all"]) == 1
    assert "no accounts with state" in capsys.readouterr().out
