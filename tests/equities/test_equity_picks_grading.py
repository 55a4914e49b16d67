"""Advisor e-mail (English + Chinese, through a local SMTP server) and the grader (scores, learnings,
and never touching another account's files)."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from email import message_from_bytes, policy

import pytest

from equity_helpers import BarsBroker, histories
from stockbot.config import AlertSettings, account_paths
from stockbot.strategies.equity.grading import Grader, grade_pick
from stockbot.strategies.equity.picks import render_email, send_picks_email
from stockbot.strategies.equity.universes import load_universe
from stockbot.fsutil import atomic_write_text

UNI = load_universe("nasdaq100").subset(["AAPL", "MSFT", "NVDA", "AMZN"])


def payload(account="nasdaq100", day="2026-10-01", last_date="2026-09-30", universe="nasdaq100") -> dict:
    picks = [
        {"rank": 1, "symbol": "AAPL", "name": "Apple Inc.", "sector": "Information Technology", "side": "long",
         "score": 0.12, "prob": 0.62, "last_close": 250.0, "last_date": last_date, "agreed": True, "weight": 0.5},
        {"rank": 2, "symbol": "MSFT", "name": "Microsoft", "sector": "Information Technology", "side": "long",
         "score": 0.03, "prob": 0.53, "last_close": 500.0, "last_date": last_date, "agreed": False, "weight": None},
        {"rank": 1, "symbol": "NVDA", "name": "Nvidia", "sector": "Information Technology", "side": "short",
         "score": -0.08, "prob": 0.42, "last_close": 180.0, "last_date": last_date, "agreed": True, "weight": 0.5},
    ]
    return {"schema": 1, "account": account, "universe": universe, "etf": "QQQ", "profile": "max_aggro",
            "strategy": "index", "strategy_version": f"{account}-max_aggro-{day}", "date": day, "forward_days": 5,
            "model": {"cutoff": "2026-09-30", "validation": {"auc": 0.53, "long_short_spread": 0.004}},
            "consensus": {"decision_id": "advice-x", "action": "ENTER", "reason": "ok", "enter_votes": 3,
                          "required_votes": 2, "n_agents": 3},
            "agents": [{"agent": "a1", "model": "openai/x", "action": "ENTER", "confidence": 0.8,
                        "rationale": "momentum leaders"}],
            "picks": picks}


def test_email_is_bilingual_and_complete():
    subject, body = render_email(payload())
    assert subject == "stockbot nasdaq100: picks 2026-10-01 / 每日选股"
    en, zh = body.split("-" * 40)
    for text in ("Longs:", "Shorts:", "AAPL Apple Inc.", "agreed by the agents", "NVDA", "momentum leaders",
                 "nasdaq100-max_aggro-2026-10-01", "not investment advice"):
        assert text in en
    for text in ("做多：", "做空：", "信息技术", "已通过投票", "未通过投票", "进场", "不构成投资建议", "NVDA"):
        assert text in zh


def test_email_goes_through_smtp(smtp):
    port, sink = smtp
    settings = AlertSettings(smtp_host="127.0.0.1", smtp_port=port, email_to="dad@example.org",
                             email_from="bot@example.org")
    send_picks_email(settings, payload())
    assert len(sink.messages) == 1
    msg = message_from_bytes(sink.messages[0], policy=policy.default)
    assert msg["To"] == "dad@example.org" and msg["Subject"] == "stockbot nasdaq100: picks 2026-10-01 / 每日选股"
    body = msg.get_content()
    assert "Longs:" in body and "做空" in body


def test_grade_pick_signs_by_side_and_waits_for_the_exit():
    data = histories(["AAPL", "QQQ"], 120, end=date(2026, 10, 9))
    h, etf = data["AAPL"], data["QQQ"]
    i = int((h.dates == h.dates[-10]).nonzero()[0][0])
    entry = str(h.dates[i])
    long_ = grade_pick({"symbol": "AAPL", "side": "long", "last_date": entry}, h, etf, 5)
    short = grade_pick({"symbol": "AAPL", "side": "short", "last_date": entry}, h, etf, 5)
    expected = h.close[i + 5] / h.close[i] - 1
    assert long_["return"] == pytest.approx(expected, abs=1e-6) and short["side_return"] == pytest.approx(-expected,
                                                                                                           abs=1e-6)
    assert long_["hit"] == (expected > 0) and short["hit"] == (expected < 0)
    assert long_["exit_date"] == str(h.dates[i + 5]) and long_["etf_return"] is not None
    late = str(h.dates[-3])  # its 5th session has not closed yet
    assert grade_pick({"symbol": "AAPL", "side": "long", "last_date": late}, h, etf, 5) is None


class OpenRecorder:
    """Records every path opened while active (an audit hook; installed once per process)."""

    active: "OpenRecorder | None" = None
    installed = False

    def __init__(self):
        self.paths: list[str] = []

    @classmethod
    def hook(cls, event, args):
        if cls.active is not None and event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None \
                and isinstance(args[0], (str, bytes, os.PathLike)):
            cls.active.paths.append(os.fsdecode(args[0]))

    def __enter__(self):
        if not OpenRecorder.installed:
            sys.addaudithook(OpenRecorder.hook)
            OpenRecorder.installed = True
        OpenRecorder.active = self
        return self

    def __exit__(self, *exc):
        OpenRecorder.active = None


async def test_grader_scores_writes_learnings_and_never_touches_another_account(tmp_path):
    data = histories([*UNI.constituents, "QQQ"], 120, end=date(2026, 10, 16))
    mine, theirs = account_paths("nasdaq100")["picks"], account_paths("other")["picks"]
    atomic_write_text(mine / "2026-10-01.json", json.dumps(payload()))
    atomic_write_text(mine / "2026-10-14.json", json.dumps(payload(day="2026-10-14", last_date="2026-10-13")))
    # a file in my directory that claims to be another account's (or universe's) is refused
    atomic_write_text(mine / "2026-10-02.json", json.dumps(payload(account="other", day="2026-10-02")))
    atomic_write_text(mine / "2026-10-03.json", json.dumps(payload(universe="sp500", day="2026-10-03")))
    atomic_write_text(theirs / "2026-10-01.json", json.dumps(payload(account="other")))
    before = {p: p.stat().st_mtime_ns for p in theirs.rglob("*")}
    broker = BarsBroker(data)
    with OpenRecorder() as rec:
        report = await Grader("nasdaq100", broker, UNI).run(date(2026, 10, 17))
    assert report.graded_days == ["2026-10-01"] and report.pending_days == ["2026-10-14"]
    assert len(report.refused) == 2
    graded = json.loads((mine / "grades" / "2026-10-01.json").read_text())
    assert [g["symbol"] for g in graded["picks"]] == ["AAPL", "MSFT", "NVDA"]
    summary = json.loads((mine / "learnings.json").read_text())["summary"]
    assert summary["overall"]["n"] == 3 and set(summary["by_side"]) == {"long", "short"}
    assert set(summary["by_vote"]) == {"agreed", "not agreed"}
    assert "hit rate" in (mine / "LEARNINGS.md").read_text()
    # isolation: nothing of the other account was opened, listed or changed
    assert not [p for p in rec.paths if "/accounts/other" in p], rec.paths
    assert {p: p.stat().st_mtime_ns for p in theirs.rglob("*")} == before
    assert not (theirs / "grades").exists() and not (theirs / "learnings.json").exists()
    assert all(set(r) <= UNI.symbols for r in broker.requests)
    # a second run grades nothing new and leaves the graded day alone
    again = await Grader("nasdaq100", broker, UNI).run(date(2026, 10, 17))
    assert again.graded_days == [] and again.pending_days == ["2026-10-14"]
