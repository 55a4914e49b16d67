"""Historical stock quotes/trades and option trades/bars, through alpaca-py's real data clients,
consistent with the quotes, trades and bars the sim already serves."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
import requests
from alpaca.data.enums import DataFeed
from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.requests import (OptionBarsRequest, OptionChainRequest, OptionTradesRequest, StockBarsRequest,
                                  StockQuotesRequest, StockTradesRequest)
from alpaca.data.timeframe import TimeFrame
from simfixtures import DEMO_KEY, DEMO_SECRET

from stockbot.sim.app import run_in_thread

UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # Wednesday 10:30 New York
HEADERS = {"APCA-API-KEY-ID": DEMO_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET}
PUT = "SPY261218P00790000"
CALL = "SPY261218C00820000"


@pytest.fixture(scope="module")
def sim():
    with run_in_thread(seed=0, start_at=T0, freeze=True) as running:
        yield running


@pytest.fixture(scope="module")
def stocks(sim):
    return StockHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)


@pytest.fixture(scope="module")
def options(sim):
    return OptionHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)


def test_stock_quotes_one_a_second_equal_to_the_market(sim, stocks):
    start = T0 - timedelta(minutes=20)
    got = stocks.get_stock_quotes(StockQuotesRequest(symbol_or_symbols=["SPY", "QQQ"], start=start,
                                                     feed=DataFeed.IEX))
    market = sim.state.market
    for sym in ("SPY", "QQQ"):
        quotes = got.data[sym]
        assert len(quotes) == 20 * 60 + 1  # every second from start to now, both ends included
        assert quotes[0].timestamp == start and quotes[-1].timestamp == T0
        for q in quotes[::97]:
            bid, ask, bs, as_ = market.quote_raw(sym, q.timestamp.timestamp())
            assert (q.bid_price, q.ask_price, q.bid_size, q.ask_size) == (bid, ask, bs, as_)
    # The history's last quote is the latest quote.
    latest = requests.get(sim.url + "/v2/stocks/SPY/quotes/latest", headers=HEADERS, timeout=30).json()["quote"]
    assert (latest["bp"], latest["ap"]) == (got.data["SPY"][-1].bid_price, got.data["SPY"][-1].ask_price)


def test_stock_quotes_page_with_limit_and_token_across_symbols(sim, stocks):
    start = T0 - timedelta(minutes=10)
    whole = stocks.get_stock_quotes(StockQuotesRequest(symbol_or_symbols=["SPY", "QQQ"], start=start))
    capped = stocks.get_stock_quotes(StockQuotesRequest(symbol_or_symbols=["SPY", "QQQ"], start=start, limit=700))
    assert len(capped.data["QQQ"]) == 601 and len(capped.data["SPY"]) == 99  # symbol order, 700 in all
    # Raw pages: 250 at a time until no token; nothing lost, nothing repeated.
    seen: dict[str, list[str]] = defaultdict(list)
    token, pages = None, 0
    while True:
        params = {"symbols": "SPY,QQQ", "start": start.isoformat(), "limit": 250}
        if token:
            params["page_token"] = token
        body = requests.get(sim.url + "/v2/stocks/quotes", params=params, headers=HEADERS, timeout=30).json()
        for sym, rows in body["quotes"].items():
            seen[sym] += [r["t"] for r in rows]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == 5
    for sym in ("SPY", "QQQ"):
        assert len(seen[sym]) == len(set(seen[sym])) == len(whole.data[sym]) == 601


def test_stock_quotes_only_in_sessions_and_sorted_desc(sim):
    # Tuesday 15:55 to Wednesday 9:31 New York: 5 minutes, then the night (no quotes), then 1 minute.
    start, end = datetime(2026, 11, 17, 20, 55, tzinfo=UTC), datetime(2026, 11, 18, 14, 31, tzinfo=UTC)
    body = requests.get(sim.url + "/v2/stocks/trades", params={"symbols": "SPY", "start": start.isoformat(),
                        "end": end.isoformat(), "sort": "desc", "limit": 10000}, headers=HEADERS, timeout=30).json()
    ts = [datetime.fromisoformat(r["t"].replace("Z", "+00:00")) for r in body["trades"]["SPY"]]
    assert len(ts) == 5 * 60 + 61 and ts == sorted(ts, reverse=True)
    assert ts[0] == end and ts[-1] == start
    bad = requests.get(sim.url + "/v2/stocks/quotes", params={"symbols": "SPY", "feed": "nope"}, headers=HEADERS,
                       timeout=30)
    assert bad.status_code == 400 and bad.json()["code"] == 40010000
    assert requests.get(sim.url + "/v2/stocks/quotes", params={"symbols": "SPY"}, timeout=30).status_code == 401


def test_stock_trades_lie_inside_their_minute_bars(stocks):
    start = T0 - timedelta(minutes=30)
    trades = stocks.get_stock_trades(StockTradesRequest(symbol_or_symbols="SPY", start=start)).data["SPY"]
    bars = stocks.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame.Minute,
                                                  start=start)).data["SPY"]
    assert len(bars) == 30 and len(trades) == 30 * 60 + 1
    by_minute = defaultdict(list)
    for t in trades:
        by_minute[t.timestamp.replace(second=0)].append(t.price)
    for b in bars:
        prices = by_minute[b.timestamp]
        assert len(prices) == 60
        assert b.low - 0.01 <= min(prices) and max(prices) <= b.high + 0.01
        assert prices[0] == pytest.approx(b.open, abs=0.011)
    assert len({t.id for t in trades}) == len(trades)


def test_option_trades_are_inside_the_quotes_of_their_instant(sim, options):
    got = options.get_option_trades(OptionTradesRequest(symbol_or_symbols=[PUT, CALL], start=T0 - timedelta(days=2)))
    book = sim.state.market.options
    for sym in (PUT, CALL):
        trades = got.data[sym]
        assert 100 < len(trades) < 300  # about one regular-session minute in four, ~1.2 sessions
        assert all(a.timestamp < b.timestamp for a, b in zip(trades, trades[1:]))
        c = book.contract(sym)
        for tr in trades[::9]:
            snap = sim.call(book.snapshot_of, c, tr.timestamp)
            assert snap.bid - 1e-9 <= tr.price <= snap.ask + 1e-9, (sym, tr, snap.bid, snap.ask)
            assert 9 * 60 + 30 <= (tr.timestamp.hour - 5) * 60 + tr.timestamp.minute < 16 * 60  # session (EST)


def test_the_snapshots_latest_trade_is_the_tapes_last(options):
    chain = options.get_option_chain(OptionChainRequest(underlying_symbol="SPY", expiration_date=T0.date()
                                                        + timedelta(days=30), strike_price_gte=780,
                                                        strike_price_lte=800))
    syms = sorted(chain)[:4]
    tape = options.get_option_trades(OptionTradesRequest(symbol_or_symbols=syms, start=T0 - timedelta(days=3)))
    for s in syms:
        last = tape.data[s][-1]
        lt = chain[s].latest_trade
        assert (lt.timestamp, lt.price, lt.size) == (last.timestamp, last.price, last.size)


def test_option_bars_aggregate_the_trades(options):
    start = datetime(2026, 11, 12, 5, 0, tzinfo=UTC)  # Thursday's midnight in New York: every bar's label is inside
    trades = options.get_option_trades(OptionTradesRequest(symbol_or_symbols=PUT, start=start)).data[PUT]
    hourly = options.get_option_bars(OptionBarsRequest(symbol_or_symbols=PUT, timeframe=TimeFrame.Hour,
                                                       start=start)).data[PUT]
    daily = options.get_option_bars(OptionBarsRequest(symbol_or_symbols=PUT, timeframe=TimeFrame.Day,
                                                      start=start)).data[PUT]
    for bars in (hourly, daily):
        assert sum(b.trade_count for b in bars) == len(trades)
        assert sum(b.volume for b in bars) == sum(t.size for t in trades)
    assert len(daily) == 5  # Thu, Fri, Mon, Tue and today so far
    by_hour = defaultdict(list)
    for t in trades:
        by_hour[t.timestamp.replace(minute=0, second=0)].append(t)
    for b in hourly:
        ts = by_hour[b.timestamp]
        assert (b.open, b.close) == (ts[0].price, ts[-1].price)
        assert (b.high, b.low) == (max(t.price for t in ts), min(t.price for t in ts))
        assert b.vwap == pytest.approx(sum(t.price * t.size for t in ts) / sum(t.size for t in ts), abs=1e-4)
    desc = options.get_option_bars(OptionBarsRequest(symbol_or_symbols=PUT, timeframe=TimeFrame.Hour, start=start,
                                                     limit=5, sort="desc")).data[PUT]
    assert [b.timestamp for b in desc] == [b.timestamp for b in hourly[::-1][:5]]


def test_option_routes_reject_bad_symbols(sim):
    r = requests.get(sim.url + "/v1beta1/options/trades", params={"symbols": "NOTANOPTION"}, headers=HEADERS,
                     timeout=30)
    assert r.status_code == 400
    r = requests.get(sim.url + "/v1beta1/options/bars", params={"symbols": PUT}, headers=HEADERS, timeout=30)
    assert r.status_code == 400 and "timeframe" in r.json()["message"]
