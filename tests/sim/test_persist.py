"""``--state FILE``: accounts, orders and positions survive a restart of the sim."""

from __future__ import annotations

import json
from decimal import Decimal

from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest, OptionLegRequest
from simfixtures import T0, pick_condor, trading_client

from stockbot.sim.persist import write_atomic


def test_state_survives_a_restart(make_sim_thread, tmp_path):
    state_file = tmp_path / "sim-state.json"
    first = make_sim_thread(seed=6, start_at=T0, freeze=True, state_file=state_file)
    first.admin("POST", "/_sim/accounts", {"key_id": "K2", "secret": "S2", "equity": 50000, "shorting": False})
    c = trading_client(first)
    c.submit_order(MarketOrderRequest(symbol="AAPL", qty=7, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                      client_order_id="keep-1"))
    c.submit_order(MarketOrderRequest(symbol="TSLA", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.DAY))
    resting = c.submit_order(LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                               time_in_force=TimeInForce.GTC, client_order_id="rest-1"))
    condor = first.call(pick_condor, first.state)
    mleg = c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY, legs=[
        OptionLegRequest(symbol=condor["short_put"], side=OrderSide.SELL, ratio_qty=1),
        OptionLegRequest(symbol=condor["long_put"], side=OrderSide.BUY, ratio_qty=1)]))
    first.admin("POST", "/_sim/clock/jump", {"seconds": 600})
    before_positions = {p.symbol: (p.qty, p.avg_entry_price) for p in c.get_all_positions()}
    before_account = c.get_account()
    before_ids = {o.id for o in c.get_orders(GetOrdersRequest(status="all", limit=500))}
    assert len(before_ids) == 6  # 3 simple orders, the mleg parent and its 2 legs
    first.stop()

    assert json.loads(state_file.read_text())["version"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    second = make_sim_thread(seed=6, state_file=state_file)
    c2 = trading_client(second)
    assert {p.symbol: (p.qty, p.avg_entry_price) for p in c2.get_all_positions()} == before_positions
    after_account = c2.get_account()
    assert after_account.cash == before_account.cash and after_account.id == before_account.id
    assert c2.get_clock().timestamp.timestamp() == T0.timestamp() + 600  # the clock offset came back
    assert c2.get_order_by_client_id("rest-1").status == OrderStatus.NEW
    restored = c2.get_order_by_id(mleg.id)
    assert restored.status == OrderStatus.FILLED and [leg.id for leg in restored.legs] == [leg.id for leg in mleg.legs]
    try:
        c2.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                           client_order_id="keep-1"))
        raise AssertionError("a client_order_id used before the restart must stay taken")
    except APIError as err:
        assert err.status_code == 422
    fresh = c2.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    assert fresh.id not in before_ids  # the id sequence continued
    c2.cancel_order_by_id(resting.id)
    k2 = trading_client(second, "K2", "S2").get_account()
    assert Decimal(k2.equity) == Decimal("50000") and k2.shorting_enabled is False
    second.stop()

    third = make_sim_thread(seed=6, state_file=state_file)
    c3 = trading_client(third)
    assert c3.get_order_by_id(resting.id).status == OrderStatus.CANCELED
    assert Decimal(c3.get_open_position("AAPL").qty) == 8


def test_atomic_write_replaces_whole_files(tmp_path):
    target = tmp_path / "deep" / "state.json"
    write_atomic(target, '{"a": 1}')
    write_atomic(target, '{"a": 2}')
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]
