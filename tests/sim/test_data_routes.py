"""Market data routes through alpaca-py's real clients (stock + option data, option contracts)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.models import Bar, Quote, Snapshot, Trade
from alpaca.data.requests import (OptionChainRequest, OptionLatestQuoteRequest, OptionSnapshotRequest,
                                  StockBarsRequest, StockLatestBarRequest, StockLatestQuoteRequest,
                                  StockLatestTradeRequest, StockSnapshotRequest)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import ContractType
from alpaca.trading.requests import GetOptionContractsRequest
from simfixtures import DEMO_KEY, DEMO_SECRET

from stockbot.sim.market_symbols import DEFAULT_SYMBOLS

UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # Wednesday 10:30 New York


@pytest.fixture(scope="module")
def frozen():
    """One sim for the module, its clock frozen at T0 (so every response is reproducible)."""
    from stockbot.sim.app import run_in_thread

    with run_in_thread(seed=0, start_at=T0, freeze=True) as running:
        yield running


def stock_client(sim, key=DEMO_KEY, secret=DEMO_SECRET) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(key, secret, url_override=sim.url)


def option_client(sim) -> OptionHistoricalDataClient:
    return OptionHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)


def test_latest_quotes_match_the_market(frozen):
    quotes = stock_client(frozen).get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols=["SPY", "QQQ", "AAPL", "BRK.B"], feed=DataFeed.IEX))
    assert set(quotes) == {"SPY", "QQQ", "AAPL", "BRK.B"}
    for sym, q in quotes.items():
        assert isinstance(q, Quote) and q.timestamp == T0
        assert 0 < q.bid_price < q.ask_price and q.bid_size > 0
        expected = frozen.call(frozen.state.market.quote, sym)
        assert (q.bid_price, q.ask_price) == (float(expected.bid), float(expected.ask))
    trades = stock_client(frozen).get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))
    assert isinstance(trades["SPY"], Trade)
    assert quotes["SPY"].bid_price <= trades["SPY"].price <= quotes["SPY"].ask_price


def test_daily_bars_cover_a_year_for_the_whole_universe(frozen):
    syms = list(DEFAULT_SYMBOLS)
    start = T0 - timedelta(days=400)
    barset = stock_client(frozen).get_stock_bars(
        StockBarsRequest(symbol_or_symbols=syms, timeframe=TimeFrame.Day, start=start, feed=DataFeed.IEX))
    assert set(barset.data) == set(syms)
    for sym in syms:
        bars = barset[sym]
        assert len(bars) >= 270, sym
        assert bars[0].timestamp >= start and bars[-1].timestamp.date() == date(2026, 11, 18)
        assert all(isinstance(b, Bar) and b.trade_count and b.vwap for b in bars)
    # Today's bar is the session so far: its close is the current mid.
    spy_q = frozen.call(frozen.state.market.quote, "SPY")
    assert barset["SPY"][-1].close == pytest.approx(float(spy_q.mid), abs=0.011)


def test_bars_pagination_and_limits(frozen):
    client = stock_client(frozen)
    start = T0 - timedelta(days=3)
    full = client.get_stock_bars(StockBarsRequest(symbol_or_symbols=["SPY", "QQQ"], timeframe=TimeFrame.Minute,
                                                  start=start))
    spy, qqq = full["SPY"], full["QQQ"]
    assert len(spy) == len(qqq) > 390
    stamps = [b.timestamp for b in spy]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # A small limit: alpaca-py stops after `limit` bars in all.
    few = client.get_stock_bars(StockBarsRequest(symbol_or_symbols=["SPY", "QQQ"], timeframe=TimeFrame.Minute,
                                                 start=start, limit=25))
    assert sum(len(v) for v in few.data.values()) == 25
    # Raw pages: next_page_token continues exactly where the page stopped.
    import requests

    url = frozen.url + "/v2/stocks/bars"
    hdrs = {"APCA-API-KEY-ID": DEMO_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET}
    params = {"symbols": "QQQ,SPY", "timeframe": "1Min", "start": start.isoformat(), "limit": 500}
    seen = []
    for _ in range(20):
        body = requests.get(url, params=params, headers=hdrs, timeout=30).json()
        assert body["bars"] != {} or body["next_page_token"] is None
        for sym, bars in sorted(body["bars"].items()):
            seen.extend((sym, b["t"]) for b in bars)
        if body["next_page_token"] is None:
            break
        params["page_token"] = body["next_page_token"]
    assert len(seen) == len(spy) + len(qqq) and len(set(seen)) == len(seen)
    hourly = client.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame(1, TimeFrameUnit.Hour),
                                                    start=start, end=T0))
    assert 10 <= len(hourly["SPY"]) <= 20
    empty = requests.get(url, params={"symbols": "SPY", "timeframe": "1Day", "start": "2030-01-01"},
                         headers=hdrs, timeout=30).json()
    assert empty == {"bars": {}, "next_page_token": None, "currency": "USD"}


def test_snapshots_and_latest_bars(frozen):
    client = stock_client(frozen)
    snaps = client.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["SPY", "NVDA"]))
    assert set(snaps) == {"SPY", "NVDA"}
    s = snaps["SPY"]
    assert isinstance(s, Snapshot) and s.latest_quote and s.latest_trade and s.minute_bar
    assert s.daily_bar.timestamp.date() == date(2026, 11, 18)
    assert s.previous_daily_bar.timestamp.date() == date(2026, 11, 17)
    latest = client.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="SPY"))
    assert latest["SPY"].timestamp == T0 - timedelta(minutes=1)


def test_wrong_keys_are_refused(frozen):
    with pytest.raises(APIError) as err:
        stock_client(frozen, "WRONG", "KEYS").get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))
    assert err.value.status_code == 401 and err.value.code == 40110000
    with pytest.raises(APIError) as err:
        OptionHistoricalDataClient("WRONG", "KEYS", url_override=frozen.url).get_option_chain(
            OptionChainRequest(underlying_symbol="SPY"))
    assert err.value.status_code == 401
    with pytest.raises(APIError) as err:
        stock_client(frozen).get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="not a ticker"))
    assert err.value.status_code == 400


def test_option_chain_with_greeks_and_iv(frozen):
    client = option_client(frozen)
    chain = client.get_option_chain(OptionChainRequest(
        underlying_symbol="SPY", type=ContractType.PUT, expiration_date_gte=date(2026, 12, 10),
        expiration_date_lte=date(2026, 12, 31)))
    assert len(chain) > 1000  # several pages of 1,000
    assert all("P" == sym[9] for sym in chain)
    spot = float(frozen.call(frozen.state.market.price, "SPY"))
    liquid = [s for s in chain.values() if s.latest_quote.bid_price > 0.5 and s.greeks is not None
              and s.greeks.delta > -0.9]
    assert liquid
    # As Alpaca: deep in the money (|delta| > 0.97) or no bid -> no greeks and no IV (sim.greeks_omit).
    bare = [s for s in chain.values() if s.greeks is None]
    assert bare and all(s.implied_volatility is None for s in bare)
    assert all(s.latest_quote.bid_price > 0 and abs(s.greeks.delta) <= 0.97
               for s in chain.values() if s.greeks is not None)
    for snap in liquid:
        assert snap.greeks is not None and -1 <= snap.greeks.delta <= 0
        assert snap.implied_volatility and 0.03 < snap.implied_volatility < 3
        assert snap.latest_quote.bid_price < snap.latest_quote.ask_price
        assert snap.latest_trade is not None
    some = sorted(chain)[:3]
    by_symbols = client.get_option_snapshot(OptionSnapshotRequest(symbol_or_symbols=some + ["SPY261218C09990000"]))
    assert set(by_symbols) == set(some)
    assert all(by_symbols[s].latest_quote.ask_price == chain[s].latest_quote.ask_price for s in some)
    quotes = client.get_option_latest_quote(OptionLatestQuoteRequest(symbol_or_symbols=some))
    assert {q.bid_price for q in quotes.values()} == {chain[s].latest_quote.bid_price for s in some}
    near = client.get_option_chain(OptionChainRequest(underlying_symbol="SPY", strike_price_gte=spot - 5,
                                                      strike_price_lte=spot + 5, expiration_date=date(2026, 12, 18)))
    assert 18 <= len(near) <= 22
    assert client.get_option_chain(OptionChainRequest(underlying_symbol="SPY", expiration_date=date(2030, 1, 1))) == {}


def test_option_contracts_listing_and_pagination(frozen):
    tc = TradingClient(DEMO_KEY, DEMO_SECRET, paper=True, url_override=frozen.url)
    req = dict(underlying_symbols=["SPY"], expiration_date_gte=date(2026, 12, 18), expiration_date_lte=date(2026, 12, 18),
               type=ContractType.CALL, limit=100)
    pages, token = [], None
    while True:
        resp = tc.get_option_contracts(GetOptionContractsRequest(**req, page_token=token))
        pages.append(resp.option_contracts)
        token = resp.next_page_token
        if token is None:
            break
    contracts = [c for p in pages for c in p]
    assert len(pages) > 2 and all(len(p) == 100 for p in pages[:-1])
    symbols = [c.symbol for c in contracts]
    assert symbols == sorted(symbols) and len(set(symbols)) == len(symbols)
    listed = {c.symbol for c in frozen.call(frozen.state.market.option_contracts, "SPY")
              if c.expiration == date(2026, 12, 18) and c.right.value == "call"}
    assert set(symbols) == listed
    c = contracts[len(contracts) // 2]
    assert c.underlying_symbol == "SPY" and c.root_symbol == "SPY" and c.size == "100" and c.tradable
    assert c.type == ContractType.CALL and c.expiration_date == date(2026, 12, 18)
    by_symbol = tc.get_option_contract(c.symbol)
    by_id = tc.get_option_contract(c.id)
    assert by_symbol == by_id == c
    assert str(c.underlying_asset_id) == frozen.call(frozen.state.market.asset_id, "SPY")
    with pytest.raises(APIError) as err:
        tc.get_option_contract("SPY261218C09990000")
    assert err.value.status_code == 404 and err.value.code == 40410000
    # Without expiration filters Alpaca lists contracts expiring through the coming weekend only.
    default = tc.get_option_contracts(GetOptionContractsRequest(underlying_symbols=["QQQ"], limit=10000))
    assert default.option_contracts and max(c.expiration_date for c in default.option_contracts) <= date(2026, 11, 22)
