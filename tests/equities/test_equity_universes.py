"""The committed constituent lists: shape, as-of dates, ETFs, and universe scoping."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from stockbot.strategies.equity.universes import DATA_DIR, SYMBOL_RE, UniverseError, load_universe

GICS = {"Communication Services", "Consumer Discretionary", "Consumer Staples", "Energy", "Financials",
        "Health Care", "Industrials", "Information Technology", "Materials", "Real Estate", "Utilities"}


@pytest.mark.parametrize("name,etf,low,high", [("nasdaq100", "QQQ", 100, 102), ("sp500", "SPY", 500, 505)])
def test_lists_are_complete_and_dated(name, etf, low, high):
    u = load_universe(name)
    meta = json.loads((DATA_DIR / f"{name}.json").read_text())
    assert u.etf == etf and etf in u.symbols and etf not in u.constituents
    assert low <= len(u.constituents) <= high and meta["count"] == len(u.constituents)
    assert u.as_of == date.fromisoformat(meta["as_of"]) and u.as_of.year >= 2025
    assert len(set(u.constituents)) == len(u.constituents)
    assert all(SYMBOL_RE.fullmatch(s) for s in u.constituents)
    assert {m.sector for m in u.members} <= GICS and all(m.name for m in u.members)


def test_known_members_and_class_shares_in_alpaca_form():
    ndx, spx = load_universe("nasdaq100"), load_universe("sp500")
    for sym in ("AAPL", "MSFT", "NVDA", "GOOG", "GOOGL", "ASML"):
        assert sym in ndx
    for sym in ("BRK.B", "BF.B", "JPM", "XOM", "NWS", "NWSA"):
        assert sym in spx
    assert "JPM" not in ndx and "ASML" not in spx  # the two universes genuinely differ
    assert "QQQ" not in spx and "SPY" not in ndx  # each account sees only its own ETF


def test_require_refuses_anything_outside():
    ndx = load_universe("nasdaq100")
    ndx.require(["AAPL", "QQQ"], "test")
    with pytest.raises(UniverseError, match="JPM"):
        ndx.require(["AAPL", "JPM"], "orders")


def test_subset_never_widens_the_universe():
    ndx = load_universe("nasdaq100")
    small = ndx.subset(["AAPL", "MSFT", "QQQ"])
    assert small.constituents == ("AAPL", "MSFT") and small.symbols == {"AAPL", "MSFT", "QQQ"}
    assert small.name == "nasdaq100" and small.as_of == ndx.as_of
    with pytest.raises(UniverseError):
        ndx.subset(["AAPL", "JPM"])


def test_broken_files_are_refused(tmp_path):
    from stockbot.strategies.equity.universes import read_constituents

    def write(rows):
        path = tmp_path / "x.csv"
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        return path

    header = ["symbol", "name", "sector"]
    ok = read_constituents(write([header, ["BRK.B", "Berkshire Hathaway", "Financials"]]))
    assert ok[0].symbol == "BRK.B"
    with pytest.raises(UniverseError, match="duplicate"):
        read_constituents(write([header, ["AAPL", "Apple", "x"], ["AAPL", "Apple", "x"]]))
    with pytest.raises(UniverseError, match="invalid symbol"):
        read_constituents(write([header, ["BRK-B", "Berkshire", "x"]]))
    with pytest.raises(UniverseError, match="header"):
        read_constituents(write([["ticker", "name", "sector"], ["AAPL", "Apple", "x"]]))
    with pytest.raises(UniverseError, match="unknown universe"):
        load_universe("dax")
