"""The sim's trading websocket (``/stream``, ``trade_updates``) through alpaca-py's real TradingStream."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, OptionLegRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream
from simfixtures import DEMO_KEY, DEMO_SECRET, T0, pick_condor, trading_client


class Listener:
    """alpaca-py's TradingStream in its own thread (``run()`` calls ``asyncio.run``)."""

    def __init__(self, url: str, key: str = DEMO_KEY, secret: str = DEMO_SECRET):
        self.events: list = []
        self.stream = TradingStream(key, secret, url_override=url.replace("http://", "ws://") + "/stream")

        async def on_update(update):
            self.events.append(update)

        self.stream.subscribe_trade_updates(on_update)
        self.thread = threading.Thread(target=self.stream.run, daemon=True)
        self.thread.start()

    def wait(self, cond, what: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout  # bounds a hang only; nothing asserts on time
        while time.monotonic() < deadline:
            if cond(self.events):
                return self.events
            time.sleep(0.02)
        raise AssertionError(f"{what}: events {[(e.event, e.order.id) for e in self.events]}")

    def stop(self):
        while self.stream._loop is None:
            time.sleep(0.01)
        self.stream.stop()
        self.thread.join(10)


@pytest.fixture
def frozen(make_sim_thread):
    return make_sim_thread(seed=5, start_at=T0, freeze=True)


def listening(running, key=DEMO_KEY) -> Listener:
    lst = Listener(running.url)
    deadline = time.monotonic() + 20
    while running.call(running.state.exchange.trade_updates.connections, key) < 1:
        assert time.monotonic() < deadline, "the stream never listened"
        time.sleep(0.02)
    return lst


def kinds(events, order_id):
    return [e.event.value if hasattr(e.event, "value") else e.event for e in events if str(e.order.id) == order_id]


def test_market_order_sends_new_then_fill_with_price_qty_and_position(frozen):
    lst = listening(frozen)
    try:
        c = trading_client(frozen)
        order = c.submit_order(MarketOrderRequest(symbol="SPY", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        events = lst.wait(lambda ev: "fill" in kinds(ev, str(order.id)), "fill event")
        assert kinds(events, str(order.id)) == ["new", "fill"]
        fill = [e for e in events if e.event == "fill"][0]
        assert fill.qty == 3 and fill.position_qty == 3 and Decimal(str(fill.price)) == Decimal(order.filled_avg_price)
        assert fill.order.status.value == "filled" and fill.execution_id is not None
        assert fill.order.client_order_id == order.client_order_id
    finally:
        lst.stop()


def test_limit_rests_then_cancel_sends_canceled_and_replace_sends_replaced(frozen):
    lst = listening(frozen)
    try:
        c = trading_client(frozen)
        bid = frozen.call(frozen.state.market.quote, "SPY").bid
        low = float((bid * Decimal("0.9")).quantize(Decimal("0.01")))
        order = c.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=low,
                                                 time_in_force=TimeInForce.DAY, client_order_id="rest-1"))
        new = c.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=low - 1, client_order_id="rest-2"))
        assert str(new.replaces) == str(order.id) and new.client_order_id == "rest-2"
        old = c.get_order_by_id(order.id)
        assert old.status.value == "replaced" and str(old.replaced_by) == str(new.id)
        c.cancel_order_by_id(new.id)
        events = lst.wait(lambda ev: "canceled" in kinds(ev, str(new.id)), "canceled event")
        assert kinds(events, str(order.id)) == ["new", "replaced"]
        assert kinds(events, str(new.id)) == ["new", "canceled"]
        replaced = [e for e in events if e.event == "replaced"][0]
        assert str(replaced.order.replaced_by) == str(new.id)
    finally:
        lst.stop()


def test_mleg_fill_event_carries_every_leg(frozen):
    lst = listening(frozen)
    try:
        c = trading_client(frozen)
        condor = frozen.call(pick_condor, frozen.state)
        legs = [OptionLegRequest(symbol=condor["short_put"], side=OrderSide.SELL, ratio_qty=1),
                OptionLegRequest(symbol=condor["long_put"], side=OrderSide.BUY, ratio_qty=1)]
        order = c.submit_order(MarketOrderRequest(qty=1, order_class=OrderClass.MLEG, time_in_force=TimeInForce.DAY,
                                                  legs=legs))
        events = lst.wait(lambda ev: "fill" in kinds(ev, str(order.id)), "mleg fill")
        fill = [e for e in events if e.event == "fill" and str(e.order.id) == str(order.id)][0]
        assert len(fill.order.legs) == 2 and all(leg.status.value == "filled" for leg in fill.order.legs)
        assert fill.position_qty is None  # a parent has no one position
    finally:
        lst.stop()


def test_wrong_keys_are_refused_and_other_accounts_hear_nothing(frozen):
    frozen.admin("POST", "/_sim/accounts", {"key_id": "K2", "secret": "S2"})
    other = Listener(frozen.url, "K2", "S2")
    bad = Listener(frozen.url, DEMO_KEY, "wrong")
    try:
        deadline = time.monotonic() + 30
        while frozen.call(frozen.state.exchange.trade_updates.connections, "K2") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        c = trading_client(frozen)
        c.submit_order(MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        status = frozen.admin("GET", "/_sim/trade_updates?key_id=SIMKEY_DEMO")
        assert [e["event"] for e in status["recent"]] == ["new", "fill"]
        while frozen.admin("GET", "/_sim/trade_updates")["auth_failures"] < 1:  # the bad login may come late
            assert time.monotonic() < deadline, "the wrong keys never tried"
            time.sleep(0.02)
        assert other.events == [] and bad.events == []
    finally:
        other.stop()
        bad.stop()  # it was retrying its refused login with backoff


def test_silent_drops_events_and_duplicate_sends_each_twice(frozen):
    lst = listening(frozen)
    try:
        c = trading_client(frozen)
        frozen.admin("POST", "/_sim/trade_updates", {"silent": True})
        a = c.submit_order(MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        frozen.admin("POST", "/_sim/trade_updates", {"silent": False, "duplicate": True})
        b = c.submit_order(MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        events = lst.wait(lambda ev: kinds(ev, str(b.id)).count("fill") == 2, "duplicated fill")
        assert kinds(events, str(a.id)) == []
        assert kinds(events, str(b.id)) == ["new", "new", "fill", "fill"]
    finally:
        lst.stop()


def test_orders_restored_from_a_state_file_are_history_not_events(make_sim_thread, tmp_path):
    path = tmp_path / "sim.json"
    first = make_sim_thread(seed=5, start_at=T0, freeze=True, state_file=path)
    c = trading_client(first)
    c.submit_order(MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    bid = first.call(first.state.market.quote, "SPY").bid
    resting = c.submit_order(LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=float(bid - 5),
                                               time_in_force=TimeInForce.DAY))
    first.admin("POST", "/_sim/persist/flush")
    first.stop()
    second = make_sim_thread(seed=5, state_file=path)
    lst = listening(second)
    try:
        c = trading_client(second)
        c.get_account()  # processes the restored account: nothing new happened to its orders
        c.cancel_order_by_id(resting.id)
        events = lst.wait(lambda ev: "canceled" in kinds(ev, str(resting.id)), "cancel of a restored order")
        assert [(kinds(events, str(resting.id)))] == [["canceled"]] and len(events) == 1
    finally:
        lst.stop()
