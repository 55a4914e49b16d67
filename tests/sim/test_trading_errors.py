"""Alpaca's error codes and bodies from the sim, as alpaca-py's APIError sees them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, PositionIntent, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from simfixtures import T0, trading_client

from stockbot.sim.accounts import AccountSpec, demo_spec


@pytest.fixture
def frozen(make_sim_thread):
    return make_sim_thread(seed=1, start_at=T0, freeze=True, accounts=[
        demo_spec(),
        AccountSpec(key_id="NOSHORT", secret="NOSHORTSECRET", shorting=False, multiplier=1),
        AccountSpec(key_id="SLOW", secret="SLOWSECRET", rate_limit_per_min=3),
    ])


def market(symbol, qty, side=OrderSide.BUY, **kw):
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, **kw)


def api_error(fn, *args) -> APIError:
    with pytest.raises(APIError) as err:
        fn(*args)
    return err.value


def test_wrong_keys_are_401_json(frozen):
    for key, secret in (("SIMKEY_DEMO", "wrong"), ("nobody", "SIMSECRET_DEMO")):
        err = api_error(trading_client(frozen, key, secret).get_account)
        assert err.status_code == 401 and err.code == 40110000 and err.message == "request is not authorized"
    assert frozen.state.requests.query(path="/v2/account", status=401)


def test_insufficient_buying_power(frozen):
    c = trading_client(frozen)
    err = api_error(c.submit_order, market("SPY", 1000))
    assert err.status_code == 403 and err.code == 40310000 and "insufficient buying power" in err.message
    assert c.get_all_positions() == [] and c.get_orders() == []


def test_cash_account_cannot_use_margin_or_short(frozen):
    c = trading_client(frozen, "NOSHORT", "NOSHORTSECRET")
    acct = c.get_account()
    assert acct.multiplier == "1" and acct.shorting_enabled is False
    assert Decimal(acct.buying_power) == Decimal(acct.cash) == Decimal("100000")
    assert c.get_account_configurations().no_shorting is True
    err = api_error(c.submit_order, market("AAPL", 1, OrderSide.SELL))
    assert err.status_code == 403 and err.code == 40310000 and "short" in err.message
    c.submit_order(market("AAPL", 2))
    err = api_error(c.submit_order, market("AAPL", 3, OrderSide.SELL))  # more than held would go short
    assert err.status_code == 403 and "short" in err.message
    assert c.submit_order(market("AAPL", 2, OrderSide.SELL)).filled_qty == "2"


def test_duplicate_client_order_id_is_422(frozen):
    c = trading_client(frozen)
    c.submit_order(market("AAPL", 1, client_order_id="once"))
    err = api_error(c.submit_order, market("AAPL", 1, client_order_id="once"))
    assert err.status_code == 422 and err.code == 42210000 and "client_order_id" in err.message
    assert Decimal(c.get_open_position("AAPL").qty) == 1
    other = trading_client(frozen, "NOSHORT", "NOSHORTSECRET")  # unique per account, not globally
    assert other.submit_order(market("AAPL", 1, client_order_id="once")).client_order_id == "once"


def test_unknown_symbol_and_bad_bodies(frozen):
    c = trading_client(frozen)
    err = api_error(c.submit_order, market("NOTATICKER", 1))
    assert err.status_code == 422 and err.code == 42210000 and "not found" in err.message
    err = api_error(c.submit_order, market("SPY261218C09999000", 1))  # well formed, not listed
    assert err.status_code == 422 and err.code == 42210000
    err = api_error(c.post, "/orders", "not an object")
    assert err.status_code == 400 and err.code == 40010000
    err = api_error(c.post, "/orders", {"symbol": "AAPL", "qty": -1, "side": "buy", "type": "market",
                                        "time_in_force": "day"})
    assert err.status_code == 422 and "qty" in err.message
    err = api_error(c.post, "/orders", {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "trailing_stop",
                                        "time_in_force": "day", "trail_percent": 1})
    assert err.status_code == 422 and "not supported" in err.message
    err = api_error(c.submit_order, LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY,
                                                      limit_price=-5, time_in_force=TimeInForce.DAY))
    assert err.status_code == 422 and "limit_price" in err.message


def test_not_found_errors(frozen):
    c = trading_client(frozen)
    err = api_error(c.get_open_position, "AAPL")
    assert err.status_code == 404 and err.code == 40410000
    err = api_error(c.get_order_by_id, "00000000-0000-4000-8000-000000000000")
    assert err.status_code == 404 and err.code == 40410000
    err = api_error(c.get_order_by_client_id, "never-sent")
    assert err.status_code == 404 and err.code == 40410000
    err = api_error(c.get, "/no/such/route")
    assert err.status_code == 404 and err.code == 40400000


def test_closing_more_than_held_is_refused(frozen):
    c = trading_client(frozen)
    c.submit_order(market("AAPL", 2))
    err = api_error(c.submit_order, market("AAPL", 5, OrderSide.SELL, position_intent=PositionIntent.SELL_TO_CLOSE))
    assert err.status_code == 403 and err.code == 40310000 and "insufficient qty" in err.message


def test_rate_limit_429_with_headers(frozen):
    c = trading_client(frozen, "SLOW", "SLOWSECRET")
    c._retry = 0  # alpaca-py would sleep 3 s and retry a 429 three times; see it at once
    for _ in range(3):
        c.get_account()
    err = api_error(c.get_account)
    assert err.status_code == 429 and err.code == 42910000
    headers = err.response.headers
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Reset"]) > 0
    fine = trading_client(frozen)  # another account has its own budget
    fine.get_account()
    assert frozen.state.requests.query(key_id="SLOW", status=429)


def test_rate_limit_headers_on_every_trading_response(frozen):
    c = trading_client(frozen)
    seen = []
    c._session.hooks["response"].append(lambda resp, *a, **k: seen.append(resp.headers))  # alpaca-py's own session
    c.get_account()
    c.get_all_positions()
    assert [h["X-RateLimit-Limit"] for h in seen] == ["200", "200"]
    assert [int(h["X-RateLimit-Remaining"]) for h in seen] == [199, 198]
    entry = frozen.state.requests.query(path="/v2/account")[-1]
    assert entry["status"] == 200 and entry["key_id"] == "SIMKEY_DEMO"
    assert "SIMSECRET_DEMO" not in repr(frozen.state.requests.query())
