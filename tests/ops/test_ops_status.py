"""``stockbot status`` (read-only, richer) and ``stockbot validation`` over a seeded store."""

from __future__ import annotations

import argparse
import re
import shutil
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from opshelpers import write_env

from stockbot import config
from stockbot.domain import utcnow
from stockbot.trading.riskctx import ny_midnight
from stockbot.flags import write_stop
from stockbot.ops_cli import add_subparser
from stockbot.status import account_status, known_accounts, render_status, validation_command
from stockbot.store import Store

SEEDS = Path(__file__).resolve().parents[2] / "memory" / "lessons"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _seed(account: str, now: datetime) -> None:
    with Store.for_account(account) as s:
        s.record_equity(ny_midnight(now) - timedelta(hours=2), Decimal("100000"), Decimal("100000"))
        s.record_equity(now, Decimal("100250.50"), Decimal("90000"))
        s.record_trade(structure_id="ic-open-1", strategy="condor", status="open", qty="1", entry_price="1.25",
                       opened_ts=now - timedelta(days=3),
                       legs=[{"symbol": "SPY261218C00700000", "qty": "-1"}, {"symbol": "SPY261218C00705000", "qty": "1"}])
        s.record_trade(structure_id="ic-closed-1", strategy="condor", status="closed", qty="1",
                       opened_ts=now - timedelta(days=20), closed_ts=now - timedelta(days=10), pnl="80")
        s.record_decision("d-1", strategy="condor", action="ENTER", params={}, reason="supermajority")
        for agent, action, err in (("alpha", "ENTER", None), ("beta", "ENTER", None), ("gamma", "HOLD", "timeout")):
            s.record_vote("d-1", agent=agent, model="rule", action=action, confidence=0.7, latency_s=0.1,
                          prompt_tokens=None, completion_tokens=None, cost_usd=None, vote={"rationale": "r"},
                          raw_sha256=None, error=err)
        s.append_event("stream_connected", {"feed": "iex"})
        s.append_event("stream_stale", {"silence_s": 31})


def test_status_shows_everything_and_writes_nothing(isolated_roots):
    now = utcnow()
    _seed("st1", now)
    shared = config.shared_lessons_dir()
    shared.mkdir(parents=True)
    for p in sorted(SEEDS.glob("LL-*.md"))[:3]:
        shutil.copy(p, shared / p.name)
    write_stop("st1", "review")
    root = Path(isolated_roots)
    before = _tree(root)
    text = account_status("st1")
    assert _tree(root) == before  # read-only: no -wal/-shm, no directory, nothing touched
    assert "STOP: HALTED" in text and "review" in text
    assert "trading state: HALTED (stop_flag)" in text
    assert "equity: 100,250.50" in text and "today's P&L: +250.50" in text
    assert "open positions: 1" in text and "ic-open-1 condor qty 1" in text and "SPY261218C00700000:-1" in text
    assert "last decision:" in text and "ENTER votes 2/3" in text
    assert "vote gamma" in text and "timeout" in text
    assert "stream: stale (stream_stale" in text
    assert "lessons: 3" in text
    # days from the first closed trade (20 days ago, UTC date) to today's New York date
    assert re.search(r"validation: days (19|20|21)/90, trades 1/30, win rate 100.0%/80%, .*\(paper\)", text)
    assert "realised P&L: +80.00 over 1 closed trade(s)" in text
    assert "recent events (10):" in text


def test_status_without_state_is_clear_and_creates_nothing(isolated_roots):
    root = Path(isolated_roots)
    text = account_status("ghost")
    assert "no state database yet" in text and "lessons: 0" in text
    assert not (root / "accounts").exists()
    assert known_accounts() == []
    assert "no accounts with state" in render_status(None, all_accounts=True)


def _trades(account: str, n: int, wins: int, first: datetime) -> None:
    with Store.for_account(account) as s:
        for i in range(n):
            opened = first + timedelta(days=i)
            s.record_trade(structure_id=f"t{i}", strategy="condor", status="closed", opened_ts=opened,
                           closed_ts=opened + timedelta(days=1), pnl="100" if i < wins else "-50")
        s.record_trade(structure_id="other", strategy="equity", status="closed", opened_ts=first - timedelta(days=400),
                       closed_ts=first, pnl="-999")  # another strategy: not counted


FIRST = datetime(2026, 1, 5, 15, 0, tzinfo=timezone.utc)


def test_validation_paper_reports_only():
    _trades("vp", 10, 5, FIRST)
    rc, text = validation_command("vp", today=date(2026, 2, 4))
    assert rc == 0
    assert "first paper trade: 2026-01-05" in text and "closed trades: 10" in text
    assert "NOT PASSED: days, trades, win_rate" in text and "paper account: report only" in text


def test_validation_live_gate_and_override(monkeypatch):
    _trades("vl", 30, 27, FIRST)
    write_env("vl", "ALPACA_PAPER=false\n")
    rc, text = validation_command("vl", today=date(2026, 3, 1))  # 55 days: too early
    assert rc == 1 and "live trading: BLOCKED: paper validation not passed: days 55" in text
    rc, text = validation_command("vl", today=date(2026, 4, 10))  # 95 days, 30 trades, 90% wins
    assert rc == 0 and "PASSED: live trading allowed" in text and "live trading: allowed" in text
    write_env("vl", "ALPACA_PAPER=false\nVALIDATION_LIVE_OVERRIDE=true\n")
    rc, text = validation_command("vl", today=date(2026, 3, 1))
    assert rc == 0 and "OVERRIDE" in text


def test_validation_cli_subcommand(capsys):
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers(dest="command"))
    write_env("vc", "ALPACA_PAPER=false\n")
    args = parser.parse_args(["validation", "--account", "vc"])
    assert args.func(args) == 1  # live, no trades: blocked
    out = capsys.readouterr().out
    assert "closed trades: 0" in out and "live trading: BLOCKED" in out
    assert not (config.memory_dir("vc")).exists()  # no store created for a read


def _paper_starts(account: str, paper: bool = True) -> None:
    with Store.for_account(account) as s:
        s.append_event("daemon_start", {"strategy": "condor", "paper": paper, "pid": 1})


def test_live_account_qualifies_on_a_named_paper_record():
    """Production-defaults defect 6: a live account counted only its own trades, so it could never
    pass. It may name the paper account whose record qualifies it; that state.db is read, never
    written, and the report says which record was used."""
    _trades("paper1", 30, 27, FIRST)
    _paper_starts("paper1")
    before = _tree(config.memory_dir("paper1"))
    write_env("live1", "ALPACA_PAPER=false\nVALIDATION_PAPER_ACCOUNT=paper1\n")
    rc, text = validation_command("live1", today=date(2026, 4, 10))
    assert rc == 0 and "live trading: allowed: paper validation passed" in text
    assert "record used: paper account paper1" in text and "read-only" in text
    assert _tree(config.memory_dir("paper1")) == before  # nothing written to the paper account
    assert not config.memory_dir("live1").exists()  # nor to the live one by a read

    # The daemon's gate reads the same record (what every order's RiskContext uses).
    from stockbot.config import load_settings
    from stockbot.trading.riskctx import validation_state

    with Store.for_account("live1") as own:
        state = validation_state(load_settings("live1"), own, date(2026, 4, 10))
    assert state.live_allowed and not state.still_validating
    assert _tree(config.memory_dir("paper1")) == before


def test_a_named_record_that_is_not_paper_qualifies_nobody():
    _trades("notpaper", 30, 27, FIRST)
    _paper_starts("notpaper", paper=False)
    write_env("live2", "ALPACA_PAPER=false\nVALIDATION_PAPER_ACCOUNT=notpaper\n")
    rc, text = validation_command("live2", today=date(2026, 4, 10))
    assert rc == 1 and "not the record of a paper account" in text and "closed trades: 0" in text
    write_env("live3", "ALPACA_PAPER=false\nVALIDATION_PAPER_ACCOUNT=nosuchacct\n")
    rc, text = validation_command("live3", today=date(2026, 4, 10))
    assert rc == 1 and "no state database yet" in text
