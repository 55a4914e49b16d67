"""Injected faults and the admin API, seen through alpaca-py's real TradingClient."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, PositionSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest, OptionLegRequest
from simfixtures import T0, pick_condor, trading_client


@pytest.fixture
def frozen(make_sim_thread):
    return make_sim_thread(seed=2, start_at=T0, freeze=True)


def buy(symbol, qty=1, **kw):
    return MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, **kw)


def order_posts(running):
    return running.state.requests.query(method="POST", path="/v2/orders")


def test_reject_next_orders_with_a_code(frozen):
    c = trading_client(frozen)
    rule = frozen.admin("POST", "/_sim/faults", {"kind": "reject_orders", "times": 2, "status": 422,
                                                 "code": 42210000, "message": "market is halted"})
    assert rule["id"] >= 1 and rule["times"] == 2
    for _ in range(2):
        with pytest.raises(APIError) as err:
            c.submit_order(buy("AAPL"))
        assert err.value.status_code == 422 and err.value.message == "market is halted"
    assert c.submit_order(buy("AAPL")).status == OrderStatus.FILLED
    assert frozen.admin("GET", "/_sim/faults")["faults"][0]["hits"] == 2
    assert [e["status"] for e in order_posts(frozen)] == [422, 422, 200]


def test_500_before_the_order_creates_nothing(frozen):
    c = trading_client(frozen)
    frozen.admin("POST", "/_sim/faults", {"kind": "http_error", "method": "POST", "path": "/v2/orders",
                                          "status": 500, "times": 1})
    with pytest.raises(APIError) as err:
        c.submit_order(buy("AAPL", client_order_id="x-500"))
    assert err.value.status_code == 500 and err.value.code == 50000000
    with pytest.raises(APIError):
        c.get_order_by_client_id("x-500")
    assert c.get_all_positions() == []


@pytest.mark.slow
def test_504_after_accepting_the_order(frozen):
    """The client sees an error, the order exists: alpaca-py retries the 504 after 3 s and the
    retried POST is refused as a duplicate client_order_id; a lookup by client id finds it."""
    c = trading_client(frozen)
    frozen.admin("POST", "/_sim/faults", {"kind": "http_error", "method": "POST", "path": "/v2/orders",
                                          "status": 504, "after": True, "times": 1})
    with pytest.raises(APIError) as err:
        c.submit_order(buy("MSFT", 3, client_order_id="idem-1"))
    assert err.value.status_code == 422 and "client_order_id" in err.value.message
    order = c.get_order_by_client_id("idem-1")
    assert order.status == OrderStatus.FILLED and order.qty == "3"
    assert Decimal(c.get_open_position("MSFT").qty) == 3  # exactly one order was booked
    assert [e["status"] for e in order_posts(frozen)] == [504, 422]


def test_504_with_a_non_json_body(frozen):
    c = trading_client(frozen)
    c._retry = 0
    frozen.admin("POST", "/_sim/faults", {"kind": "http_error", "path": "/v2/account", "status": 502,
                                          "body": "html", "times": 1})
    with pytest.raises(APIError) as err:
        c.get_account()
    assert err.value.status_code == 502 and "<html>" in str(err.value)
    assert c.get_account().status.value == "ACTIVE"


def test_429_fault_carries_rate_limit_headers(frozen):
    c = trading_client(frozen)
    c._retry = 0  # see the 429 itself instead of alpaca-py's 3 s retries
    frozen.admin("POST", "/_sim/faults", {"kind": "rate_limit", "path": "/v2/positions", "times": 1})
    with pytest.raises(APIError) as err:
        c.get_all_positions()
    assert err.value.status_code == 429 and err.value.code == 42910000
    assert err.value.response.headers["X-RateLimit-Remaining"] == "0"
    assert {"X-RateLimit-Limit", "X-RateLimit-Reset"} <= set(err.value.response.headers)
    assert c.get_all_positions() == []


def test_latency(frozen):
    c = trading_client(frozen)
    frozen.admin("POST", "/_sim/faults", {"kind": "latency", "ms": 250, "path": "/v2/clock", "times": 1})
    started = time.perf_counter()
    c.get_clock()
    assert time.perf_counter() - started >= 0.25
    assert frozen.state.requests.query(path="/v2/clock")[-1]["duration_ms"] >= 250


def test_sequential_legs_leave_a_naked_short_ll221(frozen):
    """The non-mleg partial-fill mode: single-leg orders for the wings are refused, so legs sent
    one by one leave naked shorts; the same structure as one mleg order is all-or-none."""
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    frozen.admin("POST", "/_sim/faults", {"kind": "reject_single_leg_options",
                                          "symbols": [condor["long_put"], condor["long_call"]]})
    filled, rejected = [], []
    for key, side in (("short_put", OrderSide.SELL), ("long_put", OrderSide.BUY)):
        try:
            c.submit_order(MarketOrderRequest(symbol=condor[key], qty=1, side=side, time_in_force=TimeInForce.DAY))
            filled.append(key)
        except APIError as err:
            assert err.status_code == 403
            rejected.append(key)
    assert filled == ["short_put"] and rejected == ["long_put"]
    naked = c.get_open_position(condor["short_put"])
    assert naked.side == PositionSide.SHORT and naked.qty == "-1"
    c.close_position(condor["short_put"])
    mleg = c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY, legs=[
        OptionLegRequest(symbol=condor["short_put"], side=OrderSide.SELL, ratio_qty=1),
        OptionLegRequest(symbol=condor["long_put"], side=OrderSide.BUY, ratio_qty=1)]))
    assert mleg.status == OrderStatus.FILLED and len(c.get_all_positions()) == 2


def test_plant_a_naked_short_put(frozen):
    c = trading_client(frozen)
    condor = frozen.call(pick_condor, frozen.state)
    planted = frozen.admin("POST", "/_sim/positions", {"symbol": condor["short_put"], "qty": -2,
                                                       "avg_entry_price": "1.50"})
    assert planted["qty"] == "-2" and planted["side"] == "short"
    pos = c.get_open_position(condor["short_put"])
    assert pos.side == PositionSide.SHORT and pos.avg_entry_price == "1.5" and pos.cost_basis == "-300"
    assert Decimal(c.get_account().cash) == Decimal("100000")  # planted, not traded


def test_clock_jump_and_tick(frozen):
    c = trading_client(frozen)
    assert c.get_clock().timestamp == T0
    out = frozen.admin("POST", "/_sim/clock/jump", {"seconds": 3600})
    assert out["offset_s"] == 3600 and c.get_clock().timestamp.timestamp() == T0.timestamp() + 3600
    out = frozen.admin("POST", "/_sim/clock/jump", {"to": "next_close"})
    assert out["is_open"] is False and c.get_clock().is_open is False
    frozen.admin("POST", "/_sim/tick")
    assert frozen.admin("GET", "/_sim/clock")["now"] == out["now"]


def test_request_log_proves_what_a_client_did(frozen):
    c = trading_client(frozen)
    c.get_account()
    c.submit_order(buy("AAPL", 2, client_order_id="logged"))
    seen = frozen.admin("GET", "/_sim/requests?path_prefix=/v2/&key_id=SIMKEY_DEMO")["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in seen] == [("GET", "/v2/account", 200),
                                                                    ("POST", "/v2/orders", 200)]
    assert seen[1]["body"]["client_order_id"] == "logged" and seen[1]["body"]["qty"] == 2
    since = seen[-1]["seq"]
    c.get_all_positions()
    later = frozen.admin("GET", f"/_sim/requests?since={since}&method=POST&path=/v2/orders")
    assert later["count"] == 0  # no order was placed after that point
    frozen.admin("DELETE", "/_sim/requests")
    assert frozen.admin("GET", "/_sim/requests?path_prefix=/v2/")["count"] == 0


def test_faults_can_be_listed_and_removed(frozen):
    a = frozen.admin("POST", "/_sim/faults", [{"kind": "latency", "ms": 1}, {"kind": "reject_orders"}])
    assert [r["kind"] for r in a] == ["latency", "reject_orders"]
    frozen.admin("DELETE", f"/_sim/faults/{a[0]['id']}")
    assert [r["kind"] for r in frozen.admin("GET", "/_sim/faults")["faults"]] == ["reject_orders"]
    frozen.admin("DELETE", "/_sim/faults")
    assert frozen.admin("GET", "/_sim/faults")["faults"] == []
    with pytest.raises(Exception):
        frozen.admin("POST", "/_sim/faults", {"kind": "meteor"})


def test_accounts_admin(frozen):
    out = frozen.admin("POST", "/_sim/accounts", {"key_id": "K2", "secret": "S2", "equity": 5000, "multiplier": 1})
    assert out["key_id"] == "K2" and out["equity"] == "5000"
    assert Decimal(trading_client(frozen, "K2", "S2").get_account().buying_power) == Decimal("5000")
    keys = [a["key_id"] for a in frozen.admin("GET", "/_sim/accounts")["accounts"]]
    assert keys == ["SIMKEY_DEMO", "K2"]


async def test_stream_controls_through_the_admin_api(sim):
    """Second connection with the same key -> 406; an admin disconnect drops the first."""
    import aiohttp

    auth = {"action": "auth", "key": "SIMKEY_DEMO", "secret": "SIMSECRET_DEMO"}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.url + "/v2/iex") as first:
            assert (await first.receive_json())[0]["msg"] == "connected"
            await first.send_json(auth)
            assert (await first.receive_json())[0]["msg"] == "authenticated"
            async with http.get(sim.url + "/_sim/stream") as resp:
                assert (await resp.json())["connections"] == 1
            async with http.ws_connect(sim.url + "/v2/iex") as second:
                await second.receive_json()
                await second.send_json(auth)
                assert (await second.receive_json())[0] == {"T": "error", "code": 406, "msg": "connection limit exceeded"}
            async with http.post(sim.url + "/_sim/stream", json={"silent": True, "disconnect": True}) as resp:
                body = await resp.json()
            assert body["dropped"] == 1 and body["silent"] is True
            msg = await first.receive()
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        async with http.post(sim.url + "/_sim/stream", json={"silent": False, "allow_multiple": True}) as resp:
            assert (await resp.json())["connections"] == 0
    assert sim.state.stream.multiple is True


def test_cli_serves_and_stops_on_sigterm(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "stockbot.sim.app", "--port", "0", "--seed", "4",
                             "--state", str(tmp_path / "sim.json"), "--account", "K9:S9:equity=25000,multiplier=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("stockbot sim listening on http://127.0.0.1:"), first + proc.stderr.read()
        url = first.split()[-1]
        keys = proc.stdout.readline() + proc.stdout.readline()
        assert "SIMKEY_DEMO" in keys and "SIMSECRET_DEMO" in keys
        assert Decimal(trading_client(url, "K9", "S9").get_account().equity) == Decimal("25000")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "sim.json").exists()
