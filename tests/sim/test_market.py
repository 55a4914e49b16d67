"""Market: determinism, quotes, daily bars consistent with the intraday path, CSV replay."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from stockbot.sim import market_symbols as ms
from stockbot.sim.clock import SimClock, session_close_utc, session_open_utc
from stockbot.sim.market import Market
from stockbot.sim.market_bars import iter_bars, minute_bars, parse_timeframe

UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # Wednesday 10:30 New York
DAY = date(2026, 11, 18)


def frozen_market(seed: int = 0, at: datetime = T0, **kw) -> Market:
    return Market(SimClock(frozen_at=at), seed=seed, **kw)


def test_same_seed_same_quotes_different_seed_different():
    a, b, c = frozen_market(7), frozen_market(7), frozen_market(8)
    times = [T0 + timedelta(seconds=s) for s in (0, 0.25, 1, 59.5, 60, 3600, 86400 * 3)]
    for sym in ("SPY", "QQQ", "AAPL", "XYZ"):
        qa = [a.quote_at(sym, t) for t in times]
        assert qa == [b.quote_at(sym, t) for t in times]
        assert qa != [c.quote_at(sym, t) for t in times]
    # Order of requests does not matter: a fresh market asked the other way round agrees.
    d = frozen_market(7)
    assert [d.quote_at("SPY", t) for t in reversed(times)][::-1] == [a.quote_at("SPY", t) for t in times]


def test_quote_shape_and_spread():
    m = frozen_market()
    for sym in ms.DEFAULT_SYMBOLS:
        q = m.quote(sym)
        assert q.symbol == sym and q.ts == T0
        assert q.bid > 0 and q.ask > q.bid
        assert q.ask - q.bid >= Decimal("0.01")
        assert (q.ask - q.bid) / q.mid < Decimal("0.002")
        assert q.bid == q.bid.quantize(Decimal("0.01")) and q.bid_size > 0
    spy = m.quote("SPY")
    assert spy.ask - spy.bid == Decimal("0.01")
    assert m.price("SPY") == spy.mid


def test_prices_move_continuously_and_plausibly():
    m = frozen_market()
    t = T0.timestamp()
    mids = [m.mid_at("SPY", t + 0.1 * i) for i in range(36000)]  # one hour in 100 ms steps
    steps = [abs(math.log(b / a)) for a, b in zip(mids, mids[1:])]
    assert max(steps) < 0.002  # no jumps inside the session
    assert len(set(round(x, 4) for x in mids)) > 1000  # it does move
    assert 0.0005 < abs(math.log(mids[-1] / mids[0])) + max(steps) * 10 < 0.1


def test_lazy_symbols_and_unknown():
    m = frozen_market()
    assert m.has_symbol("SPY") and m.has_symbol("BRK.B") and m.has_symbol("ZZZZ")
    assert m.quote("ZZZZ").bid > 0
    for bad in ("spy", "TOOLONG", "A1", "", "BRK/B"):
        assert not m.has_symbol(bad)
        with pytest.raises(KeyError):
            m.quote(bad)
    strict = frozen_market(lazy=False, symbols=["SPY", "QQQ"])
    assert strict.symbols() == ["SPY", "QQQ"]
    with pytest.raises(KeyError):
        strict.quote("AAPL")
    assert {"SPY", "QQQ", "IWM", "DIA", "AAPL", "NVDA", "JPM", "BRK.B"} <= set(m.symbols())
    assert len(m.symbols()) >= 110


def test_daily_history_covers_more_than_a_year():
    m = frozen_market()
    bars = m.daily_bars("SPY", T0 - timedelta(days=400), T0)
    assert len(bars) >= 270
    days = [b.ts for b in bars]
    assert days == sorted(days) and len(set(days)) == len(days)
    for b in bars:
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert b.volume > 0
        assert b.ts.astimezone(session_open_utc(DAY).tzinfo).hour in (4, 5)  # midnight New York in UTC
    # Weekend/holidays are absent: Thanksgiving 2025 has no bar.
    assert all(b.ts.date() != date(2025, 11, 27) for b in bars)
    rets = [math.log(float(b.close / a.close)) for a, b in zip(bars, bars[1:])]
    vol = (sum(r * r for r in rets) / len(rets)) ** 0.5 * math.sqrt(252)
    assert 0.07 < vol < 0.45


def test_todays_bar_is_the_session_so_far():
    m = frozen_market()
    bar = m.day_bar("SPY", DAY)
    path = m.day_path("SPY", DAY)
    t_open, now = session_open_utc(DAY).timestamp(), T0.timestamp()
    seconds = [m.mid_at("SPY", t_open + s) for s in range(0, int(now - t_open) + 1)]
    assert bar.open == pytest.approx(seconds[0], rel=1e-12)
    assert bar.close == pytest.approx(seconds[-1], rel=1e-12)
    assert bar.high == pytest.approx(max(seconds), rel=1e-12)
    assert bar.low == pytest.approx(min(seconds), rel=1e-12)
    assert 0 < bar.volume < path.bar.volume
    # Before the open there is no bar for today; after the close it is the full model bar.
    early = frozen_market(at=datetime(2026, 11, 18, 13, 0, tzinfo=UTC))
    assert early.day_bar("SPY", DAY) is None
    late = frozen_market(at=session_close_utc(DAY) + timedelta(hours=1))
    assert late.day_bar("SPY", DAY) == late.daily.bar("SPY", DAY)


def test_full_session_path_hits_the_daily_bar_exactly():
    m = frozen_market(at=datetime(2026, 11, 25, tzinfo=UTC))
    for sym in ("SPY", "NVDA", "ABCD"):
        for d in (date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 24)):
            full = m.daily.bar(sym, d)
            t_open, t_close = session_open_utc(d).timestamp(), session_close_utc(d).timestamp()
            mins = minute_bars(m, sym, d, t_close, extended=False)
            assert len(mins) == 390
            assert mins[0][1] == pytest.approx(full.open, rel=1e-12)
            assert mins[-1][4] == pytest.approx(full.close, rel=1e-12)
            assert max(b[2] for b in mins) == pytest.approx(full.high, rel=1e-12)
            assert min(b[3] for b in mins) == pytest.approx(full.low, rel=1e-12)
            assert sum(b[5] for b in mins) == full.volume
            assert m.mid_at(sym, t_close) == pytest.approx(full.close, rel=1e-12)
            assert m.mid_at(sym, t_open) == pytest.approx(full.open, rel=1e-12)
    # The early close of the day after Thanksgiving has a 210-minute session.
    d = date(2026, 11, 27)
    late = frozen_market(at=datetime(2026, 11, 28, tzinfo=UTC))
    assert len(minute_bars(late, "SPY", d, session_close_utc(d).timestamp(), extended=False)) == 210


def test_aggregated_timeframes():
    m = frozen_market(at=datetime(2026, 11, 20, 22, 0, tzinfo=UTC))
    now = m.clock.now_epoch()
    start = datetime(2026, 11, 16, tzinfo=UTC).timestamp()
    days = list(iter_bars(m, "SPY", parse_timeframe("1Day"), start, now, now))
    hours = list(iter_bars(m, "SPY", parse_timeframe("1Hour"), start, now, now))
    assert len(days) == 5 and len(hours) == 5 * 7  # 09:30-16:00 touches 7 clock hours
    for d in days:
        same = [h for h in hours if d[0] <= h[0] < d[0] + 86400]
        assert max(h[2] for h in same) == pytest.approx(d[2]) and min(h[3] for h in same) == pytest.approx(d[3])
        assert sum(h[5] for h in same) == d[5]
    weeks = list(iter_bars(m, "SPY", parse_timeframe("1Week"), start - 30 * 86400, now, now))
    assert weeks[-1][5] == sum(d[5] for d in days)
    desc = list(iter_bars(m, "SPY", parse_timeframe("15Min"), start, now, now, descending=True))
    assert [b[0] for b in desc] == sorted((b[0] for b in desc), reverse=True)
    for bad in ("2Day", "60Min", "5Month", "1Sec", ""):
        with pytest.raises(ValueError):
            parse_timeframe(bad)


def test_settlement_price_is_the_close():
    m = frozen_market(at=datetime(2026, 11, 25, tzinfo=UTC))
    assert m.settlement_price("SPY", DAY) == Decimal(str(round(m.daily.bar("SPY", DAY).close, 2)))
    assert m.settlement_price("SPY", date(2026, 11, 21)) == m.settlement_price("SPY", date(2026, 11, 20))


def test_bars_csv_replay(tmp_path):
    csv = tmp_path / "bars.csv"
    csv.write_text("symbol,date,open,high,low,close,volume\n"
                   "SPY,2026-11-16,600,605,598,603,1000000\n"
                   "SPY,2026-11-17,603,610,601,608,2000000\n"
                   "SPY,2026-11-18,608,609,590,595,3000000\n"
                   "NEWCO,2026-11-17,10,11,9,10.5,5000\n"
                   "NEWCO,2026-11-19,10.4,10.9,10.1,10.6,7000\n")
    m = frozen_market(bars_csv=csv, at=datetime(2026, 11, 19, 15, 0, tzinfo=UTC))
    assert "NEWCO" in m.symbols()
    gap = m.daily.bar("NEWCO", DAY)  # missing from the CSV: flat at the previous close
    assert (gap.open, gap.high, gap.low, gap.close, gap.volume) == (10.5, 10.5, 10.5, 10.5, 0)
    assert m.day_bar("NEWCO", date(2026, 11, 19)).open == 10.4
    b = m.daily.bar("SPY", date(2026, 11, 17))
    assert (b.open, b.high, b.low, b.close, b.volume) == (603, 610, 601, 608, 2000000)
    mins = minute_bars(m, "SPY", DAY, session_close_utc(DAY).timestamp(), extended=False)
    assert (mins[0][1], max(x[2] for x in mins), min(x[3] for x in mins), mins[-1][4]) == pytest.approx((608, 609, 590, 595))
    # After the CSV the seeded walk continues from its last close; before it, it leads into it.
    after = m.daily.bar("SPY", date(2026, 11, 19))
    assert 595 * 0.85 < after.open < 595 * 1.15
    before = m.daily.bar("SPY", date(2026, 11, 13))
    assert 603 * 0.85 < before.close < 603 * 1.15


def test_two_processes_agree():
    """Prices depend only on (seed, symbol, time): a separate interpreter computes the same ones."""
    import json
    import subprocess
    import sys

    script = (
        "import json\n"
        "from datetime import datetime, timezone\n"
        "from stockbot.sim.clock import SimClock\n"
        "from stockbot.sim.market import Market\n"
        "m = Market(SimClock(frozen_at=datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)), seed=11)\n"
        "t = m.clock.now_epoch()\n"
        "out = [m.quote_raw(s, t + dt) for s in ('AAPL', 'SPY', 'QWERT') for dt in (0, 0.5, 7200, -86400)]\n"
        "c = m.option_contracts('SPY')[1234]\n"
        "out.append([c.symbol, str(m.option_quote(c.symbol).bid)])\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    m = frozen_market(11)
    t = m.clock.now_epoch()
    ours = [list(m.quote_raw(s, t + dt)) for s in ("SPY", "AAPL", "QWERT") for dt in (0, 0.5, 7200, -86400)]
    ours = ours[4:8] + ours[0:4] + ours[8:]  # the child asked AAPL first: order of requests is irrelevant
    c = m.option_contracts("SPY")[1234]
    ours.append([c.symbol, str(m.option_quote(c.symbol).bid)])
    assert theirs == ours
