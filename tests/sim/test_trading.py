"""The sim's trading half through alpaca-py's real TradingClient: account, orders, positions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderStatus, PositionSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (ClosePositionRequest, GetOrderByIdRequest, GetOrdersRequest,
                                     LimitOrderRequest, MarketOrderRequest, StopOrderRequest)
from simfixtures import T0, trading_client


@pytest.fixture
def frozen(make_sim_thread):
    """A sim whose clock stands still at T0 (Wednesday 10:30 New York): prices are fixed until
    the test moves the clock."""
    return make_sim_thread(seed=3, start_at=T0, freeze=True)


def quote(running, symbol: str, at=None):
    m = running.state.market
    q = running.call(m.quote_at, symbol, at) if at is not None else running.call(m.quote, symbol)
    return q.bid, q.ask


def buy(client, symbol, qty, **kw):
    return client.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY,
                                                  time_in_force=TimeInForce.DAY, **kw))


async def test_the_async_fixture_serves_alpaca_py(sim):
    c = trading_client(sim)
    order = await asyncio.to_thread(c.submit_order, MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    assert order.status == OrderStatus.FILLED  # the sim fixture's market is always open
    assert sim.state.requests.query(method="POST", path="/v2/orders")[0]["status"] == 200


def test_the_thread_fixture_serves_alpaca_py(sim_thread):
    assert trading_client(sim_thread).get_clock().is_open is True


def test_account_and_configuration(frozen):
    c = trading_client(frozen)
    a = c.get_account()
    assert a.status.value == "ACTIVE" and a.account_number.startswith("PA")
    assert Decimal(a.equity) == Decimal(a.cash) == Decimal(a.last_equity) == Decimal("100000")
    assert Decimal(a.buying_power) == Decimal("200000") and a.multiplier == "2"
    assert Decimal(a.options_buying_power) == Decimal("100000")
    assert a.options_trading_level == 3 and a.shorting_enabled is True
    cfg = c.get_account_configurations()
    assert cfg.max_margin_multiplier == "2" and cfg.no_shorting is False and cfg.max_options_trading_level == 3
    clock = c.get_clock()
    assert clock.is_open and clock.timestamp == T0 and clock.next_close > clock.timestamp
    days = c.get_calendar()
    assert any(d.date == T0.date() for d in days)


def test_market_buy_fills_at_the_ask_and_marks_the_position(frozen):
    c = trading_client(frozen)
    bid, ask = quote(frozen, "AAPL")
    order = buy(c, "AAPL", 10, client_order_id="buy-aapl")
    assert order.status == OrderStatus.FILLED and Decimal(order.filled_avg_price) == ask
    assert order.position_intent.value == "buy_to_open" and order.filled_qty == "10"
    pos = c.get_open_position("AAPL")
    mid = (bid + ask) / 2
    assert pos.side == PositionSide.LONG and Decimal(pos.qty) == 10 and Decimal(pos.avg_entry_price) == ask
    assert Decimal(pos.market_value) == (10 * mid).quantize(Decimal("0.01"))
    assert Decimal(pos.cost_basis) == 10 * ask
    assert Decimal(pos.unrealized_pl) == Decimal(pos.market_value) - Decimal(pos.cost_basis)
    acct = c.get_account()
    assert Decimal(acct.cash) == Decimal("100000") - 10 * ask
    equity = Decimal(acct.equity)
    assert equity == Decimal(acct.cash) + Decimal(pos.market_value)
    # Reg-T with multiplier 2: (equity - market value / 2) * 2
    assert Decimal(acct.buying_power) == ((equity - Decimal(pos.market_value) / 2) * 2).quantize(Decimal("0.01"))


def test_short_sale_at_the_bid(frozen):
    c = trading_client(frozen)
    bid, _ask = quote(frozen, "TSLA")
    order = c.submit_order(MarketOrderRequest(symbol="TSLA", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.DAY))
    assert Decimal(order.filled_avg_price) == bid and order.position_intent.value == "sell_to_open"
    pos = c.get_open_position("TSLA")
    assert pos.side == PositionSide.SHORT and Decimal(pos.qty) == -5 and Decimal(pos.market_value) < 0
    acct = c.get_account()
    assert Decimal(acct.short_market_value) == Decimal(pos.market_value)
    assert Decimal(acct.cash) == Decimal("100000") + 5 * bid


def _falling_minute(running, symbols=("AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "SPY", "QQQ")):
    """A symbol and a minute later today when its ask is below the current bid."""
    for symbol in symbols:
        bid0, _ask0 = quote(running, symbol)
        for minute in range(1, 300):
            at = T0 + timedelta(minutes=minute)
            _b, ask = quote(running, symbol, at)
            if ask < bid0:
                return symbol, bid0, minute, ask
    raise AssertionError("no falling price found in the simulated session")


def test_limit_order_rests_then_fills_when_the_price_crosses(frozen):
    c = trading_client(frozen)
    symbol, limit, minute, ask_then = _falling_minute(frozen)
    order = c.submit_order(LimitOrderRequest(symbol=symbol, qty=3, side=OrderSide.BUY, limit_price=float(limit),
                                             time_in_force=TimeInForce.DAY, client_order_id="dip"))
    assert order.status == OrderStatus.NEW and order.filled_avg_price is None
    assert Decimal(c.get_account().buying_power) < Decimal("200000")  # the working order holds buying power
    frozen.admin("POST", "/_sim/clock/jump", {"seconds": minute * 60})
    filled = c.get_order_by_client_id("dip")
    assert filled.status == OrderStatus.FILLED and Decimal(filled.filled_avg_price) == ask_then <= limit
    assert Decimal(c.get_open_position(symbol).qty) == 3


def test_day_order_expires_at_the_close_gtc_survives(frozen):
    c = trading_client(frozen)
    _bid, ask = quote(frozen, "MSFT")
    low = float((ask / 2).quantize(Decimal("0.01")))
    day = c.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=low,
                                           time_in_force=TimeInForce.DAY))
    gtc = c.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=low,
                                           time_in_force=TimeInForce.GTC))
    assert day.expires_at == c.get_clock().next_close
    frozen.admin("POST", "/_sim/clock/jump", {"to": "next_close", "plus_seconds": 1})
    assert c.get_order_by_id(day.id).status == OrderStatus.EXPIRED
    assert c.get_order_by_id(day.id).expired_at is not None
    assert c.get_order_by_id(gtc.id).status == OrderStatus.NEW
    open_ids = {o.id for o in c.get_orders()}
    assert open_ids == {gtc.id}


def test_order_placed_while_closed_is_accepted_and_fills_at_the_open(frozen):
    c = trading_client(frozen)
    frozen.admin("POST", "/_sim/clock/jump", {"to": "next_close", "plus_seconds": 60})
    assert c.get_clock().is_open is False
    order = buy(c, "NVDA", 2)
    assert order.status == OrderStatus.ACCEPTED and order.filled_qty == "0"
    with pytest.raises(APIError) as err:
        c.get_open_position("NVDA")
    assert err.value.status_code == 404 and err.value.code == 40410000
    frozen.admin("POST", "/_sim/clock/jump", {"to": "next_open", "plus_seconds": 1})
    _bid, ask = quote(frozen, "NVDA")
    order = c.get_order_by_id(order.id)
    assert order.status == OrderStatus.FILLED and Decimal(order.filled_avg_price) == ask


def test_working_close_orders_hold_the_position(frozen):
    """Two closes of the same position while the market is closed: the second is refused
    (Alpaca's held_for_orders), so the position can never be flipped by accident."""
    c = trading_client(frozen)
    buy(c, "AAPL", 10)
    frozen.admin("POST", "/_sim/clock/jump", {"to": "next_close", "plus_seconds": 60})
    first = c.close_position("AAPL")
    assert first.status == OrderStatus.ACCEPTED
    assert c.get_open_position("AAPL").qty_available == "0"
    with pytest.raises(APIError) as err:
        c.close_position("AAPL")
    assert err.value.status_code == 403 and "insufficient qty available" in err.value.message
    frozen.admin("POST", "/_sim/clock/jump", {"to": "next_open", "plus_seconds": 1})
    assert c.get_order_by_id(first.id).status == OrderStatus.FILLED
    assert c.get_all_positions() == []


def test_stop_order_triggers_on_the_move(frozen):
    c = trading_client(frozen)
    symbol, level, minute, _ask = _falling_minute(frozen)
    buy(c, symbol, 4)
    stop = c.submit_order(StopOrderRequest(symbol=symbol, qty=4, side=OrderSide.SELL, stop_price=float(level),
                                           time_in_force=TimeInForce.GTC))
    assert stop.status == OrderStatus.NEW
    frozen.admin("POST", "/_sim/clock/jump", {"seconds": minute * 60})
    assert c.get_order_by_id(stop.id).status == OrderStatus.FILLED
    assert all(p.symbol != symbol for p in c.get_all_positions())


def test_close_position_by_qty_and_percentage(frozen):
    c = trading_client(frozen)
    buy(c, "AMD", 10)
    bid, _ask = quote(frozen, "AMD")
    part = c.close_position("AMD", ClosePositionRequest(qty="3"))
    assert part.side == OrderSide.SELL and part.qty == "3" and part.status == OrderStatus.FILLED
    assert Decimal(part.filled_avg_price) == bid and part.position_intent.value == "sell_to_close"
    assert Decimal(c.get_open_position("AMD").qty) == 7
    half = c.close_position("AMD", ClosePositionRequest(percentage="50"))
    assert Decimal(half.qty) == Decimal("3.5")
    assert Decimal(c.get_open_position("AMD").qty) == Decimal("3.5")
    c.close_position("AMD")
    with pytest.raises(APIError) as err:
        c.get_open_position("AMD")
    assert err.value.status_code == 404
    with pytest.raises(APIError) as err:
        c.close_position("AMD")
    assert err.value.status_code == 404 and err.value.code == 40410000


def test_close_position_of_a_short_buys_it_back(frozen):
    c = trading_client(frozen)
    c.submit_order(MarketOrderRequest(symbol="INTC", qty=20, side=OrderSide.SELL, time_in_force=TimeInForce.DAY))
    order = c.close_position("INTC", ClosePositionRequest(percentage="25"))
    assert order.side == OrderSide.BUY and order.qty == "5" and order.position_intent.value == "buy_to_close"
    assert Decimal(c.get_open_position("INTC").qty) == -15


def test_close_all_positions_cancels_orders_and_flattens(frozen):
    c = trading_client(frozen)
    buy(c, "AAPL", 5)
    c.submit_order(MarketOrderRequest(symbol="TSLA", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.DAY))
    resting = c.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                               time_in_force=TimeInForce.DAY))
    results = c.close_all_positions(cancel_orders=True)
    assert sorted(r.symbol for r in results) == ["AAPL", "TSLA"]
    assert all(r.status == 200 and r.body.status == OrderStatus.FILLED for r in results)
    assert c.get_all_positions() == []
    assert c.get_order_by_id(resting.id).status == OrderStatus.CANCELED


def test_cancel_order_then_cancel_again_is_refused(frozen):
    c = trading_client(frozen)
    order = c.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                             time_in_force=TimeInForce.DAY))
    assert c.cancel_order_by_id(order.id) is None
    got = c.get_order_by_id(order.id)
    assert got.status == OrderStatus.CANCELED and got.canceled_at is not None
    with pytest.raises(APIError) as err:
        c.cancel_order_by_id(order.id)
    assert err.value.status_code == 422 and err.value.code == 42210000
    filled = buy(c, "MSFT", 1)
    with pytest.raises(APIError) as err:
        c.cancel_order_by_id(filled.id)
    assert err.value.status_code == 422
    working = [c.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                                time_in_force=TimeInForce.GTC)).id for _ in range(3)]
    canceled = c.cancel_orders()
    assert sorted(r.id for r in canceled) == sorted(working) and {r.status for r in canceled} == {200}
    assert c.get_orders() == []


def test_orders_pagination_and_filters(frozen):
    c = trading_client(frozen)
    ids = []
    for i in range(120):
        symbol = "AAPL" if i % 2 else "MSFT"
        o = c.submit_order(LimitOrderRequest(symbol=symbol, qty=1, side=OrderSide.BUY, limit_price=1.0,
                                             time_in_force=TimeInForce.GTC, client_order_id=f"page-{i:03d}"))
        ids.append(o.id)
    first = c.get_orders()  # server defaults: open, 50, newest first
    assert len(first) == 50 and [o.id for o in first] == ids[::-1][:50]
    seen = [o.id for o in first]
    while True:
        page = c.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=50, until=min(o.submitted_at for o in first)))
        if not page:
            break
        seen += [o.id for o in page]
        first = page
    assert seen == ids[::-1]
    asc = c.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=1000, direction="asc"))
    assert [o.id for o in asc] == ids  # limit above 500 is capped, 120 fit
    after = c.get_orders(GetOrdersRequest(limit=500, after=asc[99].submitted_at, direction="asc"))
    assert [o.id for o in after] == ids[100:]
    only_aapl = c.get_orders(GetOrdersRequest(limit=500, symbols=["AAPL"]))
    assert len(only_aapl) == 60 and {o.symbol for o in only_aapl} == {"AAPL"}
    assert c.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED)) == []
    c.cancel_order_by_id(ids[0])
    closed = c.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert [o.id for o in closed] == [ids[0]]
    assert c.get_order_by_client_id("page-007").id == ids[7]
    assert c.get_order_by_id(ids[7], GetOrderByIdRequest(nested=True)).client_order_id == "page-007"
