"""Table tests for the entry price ladder, contract sizing and the hold/close decision."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stockbot.config import CondorSettings
from stockbot.options.condor import condor_from_symbols
from stockbot.options.condor_manage import (Close, CloseReason, Hold, closing_price_ladder, contracts_for,
                                            manage_decision, price_ladder)

D = Decimal


def L(*xs):
    return [D(x) for x in xs]


@pytest.mark.parametrize(
    "mid, nat, step, steps, kw, expected",
    [
        ("1.23", "1.05", "0.05", 4, {}, L("-1.23", "-1.18", "-1.13", "-1.08", "-1.05")),
        ("1.23", "1.05", "0.05", 2, {}, L("-1.23", "-1.18", "-1.13")),  # bounded: never reaches natural
        ("1.23", "1.05", "0.05", 0, {}, L("-1.23")),
        ("1.20", "1.10", "0.05", 10, {}, L("-1.20", "-1.15", "-1.10")),  # stops at natural
        ("1.235", "1.10", "0.05", 2, {}, L("-1.23", "-1.18", "-1.13")),  # half cents round toward natural
        ("1.20", "1.133", "0.05", 4, {}, L("-1.20", "-1.15", "-1.14")),  # never beyond natural (1.133 -> 1.14)
        ("1.20", "1.20", "0.05", 4, {}, L("-1.20")),  # locked
        ("1.20", "1.30", "0.05", 4, {}, L("-1.30")),  # crossed/natural better: take the better price
        ("0.30", "-0.10", "0.10", 5, {}, L("-0.30", "-0.20", "-0.10", "0.00", "0.10")),  # natural is a debit
        ("0.30", "-0.10", "0.10", 5, {"min_credit": D("0.15")}, L("-0.30", "-0.20")),
        ("0.30", "0.10", "0.10", 5, {"min_credit": D("0.50")}, []),
        ("2", "1.9", "0.03", 9, {}, L("-2.00", "-1.97", "-1.94", "-1.91", "-1.90")),
    ],
)
def test_price_ladder(mid, nat, step, steps, kw, expected):
    got = price_ladder(D(mid), D(nat), D(step), steps, **kw)
    assert got == expected
    assert all(p == p.quantize(D("0.01")) for p in got)
    assert len(got) <= steps + 1


@pytest.mark.parametrize(
    "mid, nat, steps, kw, expected",
    [
        ("0.60", "0.75", 4, {}, L("0.60", "0.65", "0.70", "0.75")),
        ("0.605", "0.75", 1, {}, L("0.61", "0.66")),  # half cents round up toward natural
        ("0.60", "0.75", 4, {"max_debit": D("0.68")}, L("0.60", "0.65")),
    ],
)
def test_closing_price_ladder(mid, nat, steps, kw, expected):
    assert closing_price_ladder(D(mid), D(nat), D("0.05"), steps, **kw) == expected


@pytest.mark.parametrize("step, steps", [(D(0), 3), (D("-0.05"), 3), (D("0.05"), -1)])
def test_price_ladder_rejects_bad_steps(step, steps):
    with pytest.raises(ValueError):
        price_ladder(D("1"), D("0.9"), step, steps)


@pytest.mark.parametrize(
    "max_loss, equity, share, open_, expected",
    [
        ("380", "100000", 0.05, True, 1),
        ("380", "100000", 0.05, False, 13),  # 5000 / 380 = 13.2
        ("500", "10000", 0.05, False, 1),  # exactly one fits
        ("500", "10000", 0.05, True, 1),
        ("501", "10000", 0.05, True, 0),  # even one exceeds the budget
        ("501", "10000", 0.05, False, 0),
        ("0", "10000", 0.05, False, 0),  # bad data fails closed
        ("-10", "10000", 0.05, False, 0),
        ("380", "0", 0.05, False, 0),
        ("380", "-5", 0.05, False, 0),
        ("380", "1000000", 1.0, False, 2631),
    ],
)
def test_contracts_for(max_loss, equity, share, open_, expected):
    assert contracts_for(D(max_loss), D(equity), share, validation_open=open_) == expected


SYMS = ["SPY251212C00640000", "SPY251212C00645000", "SPY251212P00570000", "SPY251212P00565000"]
IC = condor_from_symbols(SYMS, D("1.00"))
S = CondorSettings()  # take profit 50%, stop 2x credit loss, exit at 7 DTE


def at(d: date, hour_utc: int = 15):
    return datetime(d.year, d.month, d.day, hour_utc, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "debit, now, kw, expected",
    [
        ("1.00", at(date(2025, 11, 3)), {}, None),
        ("0.51", at(date(2025, 11, 3)), {}, None),
        ("0.50", at(date(2025, 11, 3)), {}, CloseReason.TAKE_PROFIT),  # exactly 50% profit
        ("0.10", at(date(2025, 11, 3)), {}, CloseReason.TAKE_PROFIT),
        ("2.99", at(date(2025, 11, 3)), {}, None),
        ("3.00", at(date(2025, 11, 3)), {}, CloseReason.STOP_LOSS),  # loss 2.00 = 2 x credit
        ("4.50", at(date(2025, 11, 3)), {}, CloseReason.STOP_LOSS),
        ("1.00", at(date(2025, 12, 4)), {}, None),  # 8 DTE
        ("1.00", at(date(2025, 12, 5)), {}, CloseReason.TIME_EXIT),  # 7 DTE
        ("3.00", at(date(2025, 12, 5)), {}, CloseReason.STOP_LOSS),  # price rules named first
        ("1.00", at(date(2025, 12, 12)), {}, CloseReason.EXPIRATION),
        ("0.10", at(date(2025, 12, 12)), {}, CloseReason.EXPIRATION),
        ("1.00", at(date(2025, 12, 15)), {}, CloseReason.EXPIRATION),
        (None, at(date(2025, 11, 3)), {}, None),  # no quotes: price rules skipped
        (None, at(date(2025, 12, 6)), {}, CloseReason.TIME_EXIT),
        ("-0.05", at(date(2025, 11, 3)), {}, None),  # nonsense debit ignored
        ("1.00", at(date(2025, 11, 3)), {"entry_credit": D("2.00")}, CloseReason.TAKE_PROFIT),
        ("1.00", at(date(2025, 12, 11)), {"settings": CondorSettings(exit_dte=0)}, CloseReason.TIME_EXIT),
        ("1.00", at(date(2025, 12, 10)), {"settings": CondorSettings(exit_dte=0)}, None),
        ("2.00", at(date(2025, 11, 3)), {"settings": CondorSettings(stop_loss_mult=1.0)}, CloseReason.STOP_LOSS),
        ("0.75", at(date(2025, 11, 3)), {"settings": CondorSettings(take_profit_pct=0.25)}, CloseReason.TAKE_PROFIT),
        # 01:00 UTC Dec 12 is still Dec 11 in New York: 1 DTE, time exit, not expiration
        ("1.00", datetime(2025, 12, 12, 1, tzinfo=timezone.utc), {}, CloseReason.TIME_EXIT),
    ],
)
def test_manage_decision(debit, now, kw, expected):
    settings = kw.pop("settings", S)
    got = manage_decision(IC, None if debit is None else D(debit), now, settings, **kw)
    if expected is None:
        assert isinstance(got, Hold) and not got.close and got.detail
    else:
        assert isinstance(got, Close) and got.close and got.reason is expected and got.detail
