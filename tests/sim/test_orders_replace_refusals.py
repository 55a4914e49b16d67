"""Order replace, leg lookups, notional orders, Alpaca's refusals and the fill chance/delay on the sim,
through alpaca-py's real TradingClient."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, OptionLegRequest, ReplaceOrderRequest
from simfixtures import T0, pick_condor, trading_client


@pytest.fixture
def frozen(make_sim_thread):
    return make_sim_thread(seed=5, start_at=T0, freeze=True)


def put_spread(condor):
    return [OptionLegRequest(symbol=condor["short_put"], side=OrderSide.SELL, ratio_qty=1),
            OptionLegRequest(symbol=condor["long_put"], side=OrderSide.BUY, ratio_qty=1)]


def refused(fn, status, code, fragment):
    with pytest.raises(APIError) as err:
        fn()
    assert err.value.status_code == status and err.value.code == code, err.value
    assert fragment in err.value.message, err.value.message
    return err.value


def test_replace_mleg_credit_limit_makes_a_new_order(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    order = c.submit_order(LimitOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                             legs=put_spread(condor), limit_price=-4.5, client_order_id="vs-1"))
    assert order.status.value == "new"  # a 4.50 credit on a 5-wide spread does not fill
    new = c.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=-4.0))
    assert Decimal(new.limit_price) == Decimal("-4.0") and str(new.replaces) == str(order.id)
    assert new.id != order.id and len(new.legs) == 2 and {leg.symbol for leg in new.legs} == {
        condor["short_put"], condor["long_put"]}
    old = c.get_order_by_id(order.id)
    assert old.status.value == "replaced" and str(old.replaced_by) == str(new.id) and old.replaced_at is not None
    assert all(leg.status.value == "replaced" for leg in old.legs)
    assert [str(o.id) for o in c.get_orders(GetOrdersRequest(nested=True))] == [str(new.id)]  # only the new one works
    refused(lambda: c.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=-3.9)), 422, 42210000,
            "not replaceable")
    refused(lambda: c.replace_order_by_id(new.legs[0].id, ReplaceOrderRequest(limit_price=1)), 422, 42210000,
            "individual legs")


def test_refused_replace_leaves_the_old_order_working(frozen):
    c = trading_client(frozen)
    bid = frozen.call(frozen.state.market.quote, "SPY").bid
    low = float((bid * Decimal("0.9")).quantize(Decimal("0.01")))
    order = c.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=low,
                                             time_in_force=TimeInForce.DAY))
    refused(lambda: c.replace_order_by_id(order.id, ReplaceOrderRequest(qty=100000)), 403, 40310000, "buying power")
    assert c.get_order_by_id(order.id).status.value == "new"
    assert [str(o.id) for o in c.get_orders(GetOrdersRequest(nested=True))] == [str(order.id)]


def test_a_legs_own_client_order_id_finds_the_leg(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    order = c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                              legs=put_spread(condor), client_order_id="parent-1"))
    leg = order.legs[0]
    found = c.get_order_by_client_id(leg.client_order_id)
    assert str(found.id) == str(leg.id) and found.symbol == leg.symbol
    assert str(c.get_order_by_client_id("parent-1").id) == str(order.id)


def test_mleg_limit_price_zero_is_accepted(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    raw = {"qty": 1, "type": "limit", "time_in_force": "day", "order_class": "mleg", "limit_price": 0,
           "legs": [{"symbol": condor["short_put"], "ratio_qty": 1, "side": "sell"},
                    {"symbol": condor["long_put"], "ratio_qty": 1, "side": "buy"}]}
    order = c.post("/orders", raw)
    assert Decimal(order["limit_price"]) == 0 and order["status"] in ("new", "filled")


def test_notional_market_order_buys_the_fraction_the_dollars_pay(frozen):
    c = trading_client(frozen)
    ask = frozen.call(frozen.state.market.quote, "SPY").ask
    order = c.submit_order(MarketOrderRequest(symbol="SPY", notional=1000, side=OrderSide.BUY,
                                              time_in_force=TimeInForce.DAY))
    assert order.status.value == "filled" and Decimal(order.notional) == 1000
    qty = Decimal(order.filled_qty)
    assert qty == (Decimal(1000) / ask).quantize(Decimal("0.000000001"), rounding="ROUND_DOWN")
    assert Decimal(c.get_open_position("SPY").qty) == qty
    refused(lambda: c.post("/orders", {"symbol": "SPY", "notional": 100, "qty": 1, "side": "buy", "type": "market",
                                       "time_in_force": "day"}), 422, 42210000, "qty or notional")


# ------------------------------------------------------------------ refusals from their rules
def test_insufficient_qty_and_qty_held_for_orders(frozen):
    c = trading_client(frozen)
    c.submit_order(MarketOrderRequest(symbol="SPY", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    refused(lambda: c.post("/orders", {"symbol": "SPY", "qty": 5, "side": "sell", "type": "market",
                                       "time_in_force": "day", "position_intent": "sell_to_close"}),
            403, 40310000, "insufficient qty available for order (requested: 5, available: 2)")
    ask = frozen.call(frozen.state.market.quote, "SPY").ask
    c.submit_order(LimitOrderRequest(symbol="SPY", qty=2, side=OrderSide.SELL, limit_price=float(ask * 2),
                                     time_in_force=TimeInForce.DAY))
    refused(lambda: c.close_position("SPY"), 403, 40310000, "available: 0")


def test_pattern_day_trader_refuses_the_fourth_day_trade_below_25k(frozen):
    frozen.admin("POST", "/_sim/accounts", {"key_id": "PDT", "secret": "S", "equity": 20000})
    c = trading_client(frozen, "PDT", "S")
    for symbol in ("SPY", "QQQ", "AAPL"):
        c.submit_order(MarketOrderRequest(symbol=symbol, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        c.close_position(symbol)
    c.submit_order(MarketOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    refused(lambda: c.close_position("MSFT"), 403, 40310100, "pattern day trading")
    assert Decimal(c.get_open_position("MSFT").qty) == 1


def test_options_time_in_force_other_than_day_is_refused(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    refused(lambda: c.submit_order(MarketOrderRequest(symbol=condor["long_put"], qty=1, side=OrderSide.BUY,
                                                      time_in_force=TimeInForce.GTC)),
            422, 42210000, "order_time_in_force provided not supported for options trading")


def test_selling_the_long_leg_while_its_short_is_open_is_refused_as_uncovered(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                      legs=put_spread(condor)))
    refused(lambda: c.close_position(condor["long_put"]), 403, 40310000, "uncovered option contracts")
    c.close_position(condor["short_put"])  # shorts first: then the long may go
    c.close_position(condor["long_put"])
    assert c.get_all_positions() == []


def test_a_spread_below_options_level_3_is_refused(frozen):
    frozen.admin("POST", "/_sim/accounts", {"key_id": "L2", "secret": "S", "options_level": 2})
    c = trading_client(frozen, "L2", "S")
    condor = frozen.call(pick_condor, frozen.state)
    refused(lambda: c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                                      legs=put_spread(condor))),
            403, 40310000, "not eligible to trade multi-leg option orders")


@pytest.mark.parametrize("reason, status, code, fragment", [
    ("insufficient_qty", 403, 40310000, "insufficient qty available"),
    ("held_for_orders", 403, 40310000, "insufficient qty available"),
    ("buying_power", 403, 40310000, "insufficient buying power"),
    ("pattern_day_trader", 403, 40310100, "pattern day trading protection"),
    ("options_tif", 422, 42210000, "order_time_in_force provided not supported"),
    ("uncovered", 403, 40310000, "uncovered option contracts"),
    ("options_level", 403, 40310000, "multi-leg option orders"),
])
def test_each_refusal_is_injectable_as_a_fault(frozen, reason, status, code, fragment):
    c = trading_client(frozen)
    frozen.admin("POST", "/_sim/faults", {"kind": "reject_as", "reason": reason, "times": 1})
    order = MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    refused(lambda: c.submit_order(order), status, code, fragment)
    assert c.submit_order(order).status.value == "filled"  # times: 1


def test_reject_as_needs_a_known_reason(frozen):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError):
        frozen.admin("POST", "/_sim/faults", {"kind": "reject_as", "reason": "nope"})


# ------------------------------------------------------------------ fill chance and delay
def test_marketable_limit_waits_out_the_delay_and_chance_zero_never_fills(frozen):
    c = trading_client(frozen)
    ask = frozen.call(frozen.state.market.quote, "SPY").ask
    marketable = LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=float(ask + 1),
                                   time_in_force=TimeInForce.DAY)
    frozen.admin("POST", "/_sim/settings", {"fill_delay_s": 30})
    order = c.submit_order(marketable)
    assert order.status.value == "new"
    frozen.admin("POST", "/_sim/clock/jump", {"seconds": 31})
    assert c.get_order_by_id(order.id).status.value == "filled"
    settings = frozen.admin("POST", "/_sim/settings", {"fill_delay_s": 0, "fill_chance": 0})
    assert settings["fill_chance"] == 0 and settings["fill_delay_s"] == 0
    ask = frozen.call(frozen.state.market.quote, "SPY").ask
    held = c.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=float(ask + 1),
                                            time_in_force=TimeInForce.DAY))
    for _ in range(5):
        frozen.admin("POST", "/_sim/tick")
    assert c.get_order_by_id(held.id).status.value == "new"
    market = c.submit_order(MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    assert market.status.value == "filled"  # market orders fill at once, as on Alpaca


def test_fill_chance_is_seeded_and_fills_some_checks(frozen):
    c = trading_client(frozen)
    frozen.admin("POST", "/_sim/settings", {"fill_chance": 0.3})
    ask = frozen.call(frozen.state.market.quote, "SPY").ask
    placed = [c.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=float(ask + 1),
                                               time_in_force=TimeInForce.DAY)) for _ in range(12)]
    first_check = [o.status.value for o in placed]  # each answer is that order's first check
    assert 0 < first_check.count("filled") < 12  # some at once, the others later
    ids = [o.id for o in placed]
    for _ in range(40):
        frozen.admin("POST", "/_sim/tick")
    assert all(c.get_order_by_id(i).status.value == "filled" for i in ids)


def test_replacing_a_closing_order_is_refused_while_it_holds_the_qty(frozen):
    """Alpaca's behaviour (ALPACA_NOTES): cancel, confirm, resubmit instead."""
    c = trading_client(frozen)
    c.submit_order(MarketOrderRequest(symbol="SPY", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    ask = frozen.call(frozen.state.market.quote, "SPY").ask
    close = c.post("/orders", {"symbol": "SPY", "qty": 2, "side": "sell", "type": "limit", "limit_price": float(ask * 2),
                               "time_in_force": "day", "position_intent": "sell_to_close"})
    refused(lambda: c.replace_order_by_id(close["id"], ReplaceOrderRequest(limit_price=float(ask * 2) - 1)),
            403, 40310000, "insufficient qty available")
    assert c.get_order_by_id(close["id"]).status.value == "new"
