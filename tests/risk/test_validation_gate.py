"""Table tests for the paper-validation gate for live money."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from stockbot.config import ValidationSettings
from stockbot.risk.validation import (ClosedTrade, live_allowed, render_table, trades_from_rows,
                                      validation_report)

START = date(2025, 1, 2)


def trades(wins: int, losses: int, win_pnl="100", loss_pnl="-150", scratch: int = 0):
    out = []
    d = START
    for pnl in [win_pnl] * wins + [loss_pnl] * losses + ["0"] * scratch:
        out.append(ClosedTrade(d, d + timedelta(days=10), Decimal(pnl)))
        d += timedelta(days=1)
    return out


def crit(report, name):
    return next(c for c in report.criteria if c.name == name)


@pytest.mark.parametrize(
    "wins, losses, days, passed, failing",
    [
        (24, 6, 90, True, set()),  # exactly 80% win rate, exactly 90 days, exactly 30 trades
        (23, 7, 90, False, {"win_rate"}),  # 76.7%
        (24, 6, 89, False, {"days"}),
        (23, 6, 120, False, {"trades", "win_rate"}),  # 29 trades, 79.3%
        (40, 10, 200, True, set()),
        (30, 0, 90, True, set()),  # no losses: profit factor inf
        (0, 0, 120, False, {"trades", "win_rate", "profit_factor", "expectancy"}),
    ],
)
def test_report_table(wins, losses, days, passed, failing):
    r = validation_report(trades(wins, losses), START, START + timedelta(days=days))
    assert r.passed is passed
    assert {c.name for c in r.failed} == failing
    assert r.days == days and r.trades == wins + losses and r.wins == wins


def test_metrics_values():
    r = validation_report(trades(24, 6), START, date(2025, 6, 1))
    assert r.win_rate == pytest.approx(0.8)
    assert r.gross_profit == Decimal(2400) and r.gross_loss == Decimal(900)
    assert r.profit_factor == pytest.approx(2400 / 900)
    assert r.expectancy == Decimal(1500) / 30
    assert crit(r, "win_rate").threshold == 0.8 and crit(r, "win_rate").op == ">="


@pytest.mark.parametrize(
    "win_pnl, loss_pnl, pf, pf_ok, exp_ok",
    [
        ("100", "-400", 1.0, False, False),  # 2400 / 2400: profit factor must be > 1 strictly
        ("100", "-399", 2400 / 2394, True, True),
        ("10", "-100", 240 / 600, False, False),  # 80% wins but losing money
    ],
)
def test_profit_factor_and_expectancy(win_pnl, loss_pnl, pf, pf_ok, exp_ok):
    r = validation_report(trades(24, 6, win_pnl, loss_pnl), START, START + timedelta(days=100))
    assert r.profit_factor == pytest.approx(pf)
    assert crit(r, "profit_factor").passed is pf_ok
    assert crit(r, "expectancy").passed is exp_ok
    assert r.passed is (pf_ok and exp_ok)


def test_scratch_trade_is_not_a_win():
    r = validation_report(trades(24, 5, scratch=1), START, START + timedelta(days=100))
    assert r.trades == 30 and r.wins == 24 and r.passed


def test_settings_and_first_trade_fallback():
    s = ValidationSettings(min_days=10, min_trades=2, min_win_rate=0.5)
    ts = trades_from_rows([(datetime(2025, 1, 5, 15, tzinfo=timezone.utc), date(2025, 1, 9), "50"),
                           (date(2025, 1, 6), date(2025, 1, 9), -20.5)])
    r = validation_report(ts, None, date(2025, 1, 15), s)
    assert r.first_trade == date(2025, 1, 5) and r.days == 10 and r.passed
    assert validation_report([], None, date(2025, 1, 15)).days == 0
    assert validation_report([], date(2025, 2, 1), date(2025, 1, 15)).days == 0  # never negative


def test_render_table():
    text = render_table(validation_report(trades(23, 7), START, START + timedelta(days=61)))
    lines = text.splitlines()
    assert lines[0].split() == ["criterion", "value", "needs", "pass"]
    assert any(l.startswith("win_rate") and "76.7%" in l and ">= 80.0%" in l and l.endswith("NO") for l in lines)
    assert any(l.startswith("days") and "61" in l and ">= 90" in l for l in lines)
    assert lines[-1] == "NOT PASSED: days, win_rate"
    ok = render_table(validation_report(trades(30, 0), START, START + timedelta(days=90)))
    assert "inf" in ok and ok.splitlines()[-1] == "PASSED: live trading allowed"


PASS = validation_report(trades(24, 6), START, START + timedelta(days=90))
FAIL = validation_report(trades(1, 0), START, START + timedelta(days=61))


@pytest.mark.parametrize(
    "report, paper, override, allowed, word",
    [
        (FAIL, True, False, True, "paper"),
        (None, True, False, True, "paper"),
        (PASS, False, False, True, "passed"),
        (FAIL, False, False, False, "not passed"),
        (None, False, False, False, "no validation report"),
        (FAIL, False, True, True, "OVERRIDE"),
        (None, False, True, True, "OVERRIDE"),
    ],
)
def test_live_allowed(report, paper, override, allowed, word):
    ok, reason = live_allowed(report, paper, override)
    assert ok is allowed and word in reason
