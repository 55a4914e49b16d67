"""The replay's market source: the arch S&P 500 / VIX datasets as SPY sessions with a vol level,
checked against the exchange calendar, and a seeded intraday path through each session."""

from __future__ import annotations

from datetime import date

import pytest

from stockbot.replay.history import HistoryError, intraday_path, load_history


@pytest.fixture(scope="module")
def history():
    return load_history()


def test_sessions_are_the_datasets_days_with_spy_at_a_tenth_of_the_index(history):
    from arch.data import sp500

    frame = sp500.load()
    s = history.sessions
    assert len(s) == len(frame) == 5031
    assert (s[0].day, s[-1].day) == (date(1999, 1, 4), date(2018, 12, 31))
    assert s[-1].close == pytest.approx(float(frame["Close"].iloc[-1]) / 10)
    assert all(x.low <= min(x.open, x.close) <= max(x.open, x.close) <= x.high for x in s)
    assert len({x.day for x in s}) == len(s) and [x.day for x in s] == sorted(x.day for x in s)


def test_vol_is_the_vix_from_2014_and_a_garch_fit_before(history):
    from arch.data import vix

    by_day = {x.day: x for x in history.sessions}
    assert by_day[date(2014, 1, 3)].vol_source == "vix"
    assert by_day[date(2014, 1, 3)].vol == pytest.approx(float(vix.load()["vix"].loc["2014-01-03"]) / 100)
    assert by_day[date(2013, 12, 31)].vol_source == "garch"
    garch = [x.vol for x in history.sessions if x.vol_source == "garch"]
    assert 0.05 < min(garch) and max(garch) < 1.5  # annualised fractions, 2008 included
    assert by_day[date(2008, 10, 10)].vol > 2 * by_day[date(2006, 6, 1)].vol  # the crisis is in it
    assert 1.0 < history.iv_over_realized < 1.6  # implied above realised on average (the VIX premium)
    assert 0.8 < history.garch["alpha[1]"] + history.garch["beta[1]"] < 1.0  # a stationary, persistent fit


def test_every_session_is_an_xnys_session_and_a_closed_day_is_refused(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("Date,Open,High,Low,Close\n2018-12-21,250,252,248,249\n2018-12-24,249,250,240,241\n"
                   "2018-12-25,241,246,240,245\n2018-12-26,245,252,244,251\n", encoding="utf-8")
    with pytest.raises(HistoryError, match="2018-12-25"):  # Christmas: the exchange was closed
        load_history(csv)
    with pytest.raises(HistoryError, match="missing column"):
        (tmp_path / "cols.csv").write_text("Date,Close\n2018-12-21,1\n", encoding="utf-8")
        load_history(tmp_path / "cols.csv")


@pytest.mark.parametrize("index", [0, 1234, 2450, 5030])
def test_the_intraday_path_touches_open_high_low_close_and_stays_inside(history, index):
    s = history.sessions[index]
    path = intraday_path(s, 79, seed=11)
    assert len(path) == 79 and path[0] == s.open and path[-1] == s.close
    assert max(path) == pytest.approx(s.high) and min(path) == pytest.approx(s.low)
    assert all(s.low <= p <= s.high for p in path)
    up = s.close >= s.open
    assert (path.index(min(path)) < path.index(max(path))) == up  # low first on an up day
    assert intraday_path(s, 79, seed=11) == path  # deterministic for a seed
    assert intraday_path(s, 79, seed=12) != path
