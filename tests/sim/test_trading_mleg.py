"""Multi-leg (mleg) option orders and option positions through alpaca-py's real TradingClient."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, PositionSide, TimeInForce
from alpaca.trading.requests import (ClosePositionRequest, GetOrdersRequest, LimitOrderRequest, MarketOrderRequest,
                                     OptionLegRequest)
from simfixtures import T0, pick_condor, trading_client

from stockbot.options.occ import parse_occ


@pytest.fixture
def frozen(make_sim_thread):
    return make_sim_thread(seed=5, start_at=T0, freeze=True)


def touch(running, symbol):
    q = running.call(running.state.market.option_quote, symbol)
    return q.bid, q.ask


def condor_legs(condor):
    return [OptionLegRequest(symbol=condor["short_call"], side=OrderSide.SELL, ratio_qty=1),
            OptionLegRequest(symbol=condor["long_call"], side=OrderSide.BUY, ratio_qty=1),
            OptionLegRequest(symbol=condor["short_put"], side=OrderSide.SELL, ratio_qty=1),
            OptionLegRequest(symbol=condor["long_put"], side=OrderSide.BUY, ratio_qty=1)]


def touch_credit(running, condor) -> Decimal:
    """What the condor pays now at the touch: short legs at the bid minus long legs at the ask."""
    return (touch(running, condor["short_call"])[0] + touch(running, condor["short_put"])[0]
            - touch(running, condor["long_call"])[1] - touch(running, condor["long_put"])[1])


def width(condor) -> Decimal:
    return parse_occ(condor["long_call"]).strike - parse_occ(condor["short_call"]).strike


def test_market_iron_condor_fills_every_leg_at_the_touch(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    credit = touch_credit(frozen, condor)
    order = c.submit_order(MarketOrderRequest(qty=2, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                              legs=condor_legs(condor), client_order_id="ic-1"))
    assert order.status == OrderStatus.FILLED and order.order_class == OrderClass.MLEG
    assert order.symbol is None and order.side is None and order.asset_class is None  # "" on the wire
    assert Decimal(order.filled_avg_price) == -credit and order.filled_qty == "2"
    assert len(order.legs) == 4
    for leg in order.legs:
        bid, ask = touch(frozen, leg.symbol)
        assert leg.status == OrderStatus.FILLED and leg.qty == "2" and leg.filled_qty == "2" and leg.ratio_qty == "1"
        assert Decimal(leg.filled_avg_price) == (ask if leg.side == OrderSide.BUY else bid)
        assert leg.id != order.id and leg.asset_class.value == "us_option"
    positions = {p.symbol: p for p in c.get_all_positions()}
    assert set(positions) == {condor[k] for k in ("short_call", "long_call", "short_put", "long_put")}
    for key in ("short_call", "short_put"):
        assert positions[condor[key]].side == PositionSide.SHORT and positions[condor[key]].qty == "-2"
        assert Decimal(positions[condor[key]].cost_basis) < 0
    for key in ("long_call", "long_put"):
        assert positions[condor[key]].side == PositionSide.LONG and positions[condor[key]].qty == "2"
    assert all(p.exchange.value == "" and p.asset_class.value == "us_option" for p in positions.values())
    acct = c.get_account()
    assert Decimal(acct.cash) == Decimal("100000") + credit * 200
    # defined risk: the condor holds (width - credit) x 100 x 2 of options buying power
    held = Decimal("100000") - Decimal(acct.options_buying_power)
    assert held == width(condor) * 100 * 2 - credit * 200


def test_credit_limit_fills_only_when_that_credit_is_there(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    credit = touch_credit(frozen, condor)
    assert credit > Decimal("0.02")
    greedy = c.submit_order(LimitOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                              limit_price=float(-(credit + Decimal("0.50"))), legs=condor_legs(condor)))
    assert greedy.status == OrderStatus.NEW and all(leg.status == OrderStatus.NEW for leg in greedy.legs)
    assert c.get_all_positions() == []
    fair = c.submit_order(LimitOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                            limit_price=float(-(credit - Decimal("0.01"))), legs=condor_legs(condor)))
    assert fair.status == OrderStatus.FILLED and Decimal(fair.filled_avg_price) == -credit
    assert Decimal(fair.limit_price) == -(credit - Decimal("0.01"))
    with pytest.raises(APIError) as err:
        c.cancel_order_by_id(greedy.legs[0].id)
    assert err.value.status_code == 422 and err.value.code == 42210000
    assert err.value.message == "cannot cancel individual legs of a mleg order"
    c.cancel_order_by_id(greedy.id)
    got = c.get_order_by_id(greedy.id)
    assert got.status == OrderStatus.CANCELED and all(leg.status == OrderStatus.CANCELED for leg in got.legs)


def test_insufficient_buying_power_fills_no_leg(frozen):
    frozen.admin("POST", "/_sim/accounts", {"key_id": "SMALL", "secret": "SMALLSECRET", "equity": "2000"})
    c = trading_client(frozen, "SMALL", "SMALLSECRET")
    condor = frozen.call(pick_condor, frozen.state)
    with pytest.raises(APIError) as err:
        c.submit_order(MarketOrderRequest(qty=10, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                          legs=condor_legs(condor), client_order_id="too-big"))
    assert err.value.status_code == 403 and err.value.code == 40310000
    assert "buying power" in err.value.message
    assert c.get_all_positions() == []
    assert c.get_orders(GetOrdersRequest(status="all")) == []
    assert Decimal(c.get_account().cash) == Decimal("2000")
    one = c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                            legs=condor_legs(condor)))
    assert one.status == OrderStatus.FILLED and len(c.get_all_positions()) == 4


def test_nested_and_flat_order_listings(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    order = c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                              legs=condor_legs(condor)))
    nested = c.get_orders(GetOrdersRequest(status="all", nested=True))
    assert [o.id for o in nested] == [order.id] and len(nested[0].legs) == 4
    flat = c.get_orders(GetOrdersRequest(status="all"))
    assert {o.id for o in flat} == {order.id} | {leg.id for leg in order.legs}
    assert next(o for o in flat if o.id == order.id).legs is None
    by_symbol = c.get_orders(GetOrdersRequest(status="all", nested=True, symbols=[condor["long_put"]]))
    assert [o.id for o in by_symbol] == [order.id]
    assert len(c.get_order_by_id(order.id).legs) == 4
    assert c.get_order_by_id(order.legs[1].id).ratio_qty == "1"


def test_ratio_spread_leg_quantities(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    order = c.submit_order(MarketOrderRequest(qty=3, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY, legs=[
        OptionLegRequest(symbol=condor["short_call"], side=OrderSide.SELL, ratio_qty=1),
        OptionLegRequest(symbol=condor["long_call"], side=OrderSide.BUY, ratio_qty=2)]))
    qty = {leg.symbol: (leg.qty, leg.ratio_qty) for leg in order.legs}
    assert qty == {condor["short_call"]: ("3", "1"), condor["long_call"]: ("6", "2")}
    assert c.get_open_position(condor["long_call"]).qty == "6"


@pytest.mark.parametrize("body, fragment", [
    ({"legs": "one"}, "2 to 4 legs"),
    ({"legs": [{"symbol": "X", "ratio_qty": 1, "side": "buy"}]}, "2 to 4 legs"),
    ({"symbol": "SPY", "side": "buy"}, "must not be set"),
    ({"dup": True}, "unique symbols"),
    ({"ratio": (2, 4)}, "simplest form"),
    ({"type": "stop", "stop_price": 1}, "market and limit"),
    ({"time_in_force": "gtc"}, "not supported for options trading"),
])
def test_mleg_validation(frozen, body, fragment):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    legs = [{"symbol": condor["short_put"], "ratio_qty": 1, "side": "sell"},
            {"symbol": condor["long_put"], "ratio_qty": 1, "side": "buy"}]
    if body.pop("dup", False):
        legs[1]["symbol"] = legs[0]["symbol"]
    if "ratio" in body:
        legs[0]["ratio_qty"], legs[1]["ratio_qty"] = body.pop("ratio")
    raw = {"qty": 1, "type": "market", "time_in_force": "day", "order_class": "mleg", "legs": legs, **body}
    with pytest.raises(APIError) as err:
        c.post("/orders", raw)  # the real client's POST, bypassing its own request model
    assert err.value.status_code == 422 and err.value.code == 42210000 and fragment in err.value.message
    assert c.get_all_positions() == []


def test_options_expire_itm_exercised_into_shares_otm_worthless(frozen):
    c = trading_client(frozen)
    state = frozen.state
    expiry = date(2026, 11, 20)  # the Friday after T0
    spot = frozen.call(state.market.price, "SPY")
    chain = [k for k in frozen.call(state.market.option_contracts, "SPY") if k.expiration == expiry]
    itm_call = min((k for k in chain if k.right.value == "call"), key=lambda k: abs(k.strike - (spot - 20))).symbol
    otm_put = min((k for k in chain if k.right.value == "put"), key=lambda k: abs(k.strike - (spot - 60))).symbol
    for symbol, side in ((itm_call, OrderSide.BUY), (otm_put, OrderSide.SELL)):
        c.submit_order(MarketOrderRequest(symbol=symbol, qty=1, side=side, time_in_force=TimeInForce.DAY))
    cash_before = Decimal(c.get_account().cash)
    frozen.admin("POST", "/_sim/clock/jump", {"to": "2026-11-20T21:00:01Z"})
    settle = frozen.call(state.market.settlement_price, "SPY", expiry)
    call_strike, put_strike = parse_occ(itm_call).strike, parse_occ(otm_put).strike
    assert settle > call_strike and settle > put_strike  # the setup is what the test says it is
    # American, physically settled: the ITM call becomes 100 shares bought at the strike (tests/sim/test_expiry.py)
    assert [(p.symbol, p.qty) for p in c.get_all_positions()] == [("SPY", "100")]
    assert Decimal(c.get_account().cash) == cash_before - call_strike * 100


def test_single_leg_option_orders_and_levels(frozen):
    frozen.admin("POST", "/_sim/accounts", {"key_id": "L1", "secret": "S1", "options_level": 1})
    frozen.admin("POST", "/_sim/accounts", {"key_id": "L2", "secret": "S2", "options_level": 2})
    condor = frozen.call(pick_condor, frozen.state)
    level1, level2 = trading_client(frozen, "L1", "S1"), trading_client(frozen, "L2", "S2")
    long_put = MarketOrderRequest(symbol=condor["long_put"], qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    with pytest.raises(APIError) as err:
        level1.submit_order(long_put)
    assert err.value.status_code == 403 and "level" in err.value.message
    assert level2.submit_order(long_put).status == OrderStatus.FILLED
    with pytest.raises(APIError) as err:
        level2.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                               legs=condor_legs(condor)))
    assert err.value.status_code == 403
    csp = MarketOrderRequest(symbol=condor["short_put"], qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY)
    assert level1.submit_order(csp).status == OrderStatus.FILLED  # a cash-secured put is level 1
    bid, _ask = touch(frozen, condor["short_put"])
    strike = parse_occ(condor["short_put"]).strike
    # secured by cash: the strike x 100, less the premium received
    assert Decimal(level1.get_account().options_buying_power) == Decimal("100000") - strike * 100 + bid * 100


def test_close_option_position_and_expiry_of_contract_orders(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    c.submit_order(MarketOrderRequest(symbol=condor["long_call"], qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    with pytest.raises(APIError) as err:  # whole contracts only
        c.close_position(condor["long_call"], ClosePositionRequest(qty="0.5"))
    assert err.value.status_code == 422
    order = c.close_position(condor["long_call"])
    bid, _ask = touch(frozen, condor["long_call"])
    assert order.status == OrderStatus.FILLED and Decimal(order.filled_avg_price) == bid and order.qty == "2"
    assert order.position_intent.value == "sell_to_close"
    assert c.get_all_positions() == []


def test_mid_fill_model_fills_a_limit_at_the_mid(frozen):
    c = trading_client(frozen)
    assert frozen.admin("POST", "/_sim/settings", {"mleg_fill": "mid"})["mleg_fill"] == "mid"
    condor = frozen.call(pick_condor, frozen.state)
    mids = {k: sum(touch(frozen, condor[k])) / 2 for k in ("short_call", "long_call", "short_put", "long_put")}
    mid_credit = mids["short_call"] + mids["short_put"] - mids["long_call"] - mids["long_put"]
    assert mid_credit > touch_credit(frozen, condor)
    order = c.submit_order(LimitOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                             limit_price=float(-mid_credit), legs=condor_legs(condor)))
    assert order.status == OrderStatus.FILLED and Decimal(order.filled_avg_price) == -mid_credit
