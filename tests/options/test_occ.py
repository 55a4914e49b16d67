"""Table tests for OCC symbols."""

from datetime import date
from decimal import Decimal

import pytest

from stockbot.domain import OptionContract, OptionRight
from stockbot.options.occ import is_occ_symbol, occ_symbol, parse_occ

C, P = OptionRight.CALL, OptionRight.PUT


@pytest.mark.parametrize(
    "root, exp, right, strike, expected",
    [
        ("SPY", date(2025, 12, 19), C, Decimal(600), "SPY251219C00600000"),
        ("SPY", date(2025, 12, 19), P, Decimal("600.5"), "SPY251219P00600500"),
        ("SPY", date(2026, 1, 2), C, Decimal("0.5"), "SPY260102C00000500"),
        ("SPXW", date(2030, 3, 15), P, Decimal("5125"), "SPXW300315P05125000"),
        ("AAPL", date(2025, 7, 18), C, Decimal("12.345"), "AAPL250718C00012345"),
        ("SPY1", date(2025, 7, 18), C, Decimal("600.000"), "SPY1250718C00600000"),
        ("A", date(2099, 12, 31), P, Decimal("99999.999"), "A991231P99999999"),
    ],
)
def test_occ_symbol(root, exp, right, strike, expected):
    assert occ_symbol(root, exp, right, strike) == expected


@pytest.mark.parametrize("strike", ["600", "600.5", "0.5", "0.001", "12.345", "99999.999", "1", "7.25"])
@pytest.mark.parametrize("right", [C, P])
def test_round_trip_exact(strike, right):
    k = Decimal(strike)
    sym = occ_symbol("SPY", date(2025, 12, 19), right, k)
    c = parse_occ(sym)
    assert c == OptionContract(symbol=sym, underlying="SPY", expiration=date(2025, 12, 19), right=right, strike=c.strike)
    assert c.strike == k
    assert str(c.strike) == strike  # normalised: no trailing zeros, no exponent
    assert occ_symbol(c.underlying, c.expiration, c.right, c.strike) == sym


def test_parse_fields():
    c = parse_occ("SPY251219C00600000")
    assert (c.underlying, c.expiration, c.right, c.strike) == ("SPY", date(2025, 12, 19), C, Decimal(600))
    assert str(c.strike) == "600"


@pytest.mark.parametrize(
    "bad",
    [
        "", "SPY", "SPY251219X00600000", "SPY251219C0060000", "SPY251219C006000000",
        "spy251219C00600000", "SPY251319C00600000", "SPY250230C00600000", "SPY251219C00000000",
        "1SPY251219C00600000", "TOOLONG251219C00600000", "SPY 251219C00600000", "SPY251219c00600000",
        " SPY251219C00600000", "SPY251219C00600000\n",
    ],
)
def test_parse_rejects_malformed(bad):
    with pytest.raises(ValueError):
        parse_occ(bad)
    assert not is_occ_symbol(bad)


def test_parse_rejects_non_string():
    with pytest.raises(ValueError):
        parse_occ(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "root, exp, strike",
    [
        ("spy", date(2025, 1, 17), Decimal(1)),
        ("", date(2025, 1, 17), Decimal(1)),
        ("SPY", date(1999, 1, 15), Decimal(1)),
        ("SPY", date(2100, 1, 15), Decimal(1)),
        ("SPY", date(2025, 1, 17), Decimal("0.0005")),
        ("SPY", date(2025, 1, 17), Decimal(0)),
        ("SPY", date(2025, 1, 17), Decimal(-5)),
        ("SPY", date(2025, 1, 17), Decimal(100000)),
        ("SPY", date(2025, 1, 17), Decimal("NaN")),
    ],
)
def test_occ_symbol_rejects(root, exp, strike):
    with pytest.raises(ValueError):
        occ_symbol(root, exp, C, strike)


def test_is_occ_symbol():
    assert is_occ_symbol("SPY251219C00600000")
    assert not is_occ_symbol("SPY")
