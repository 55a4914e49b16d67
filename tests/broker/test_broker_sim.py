"""The broker adapter against the local exchange through the real alpaca-py clients."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.broker.budget import RequestBudget
from stockbot.broker.errors import InsufficientFundsError, RejectedError, TransientError
from stockbot.trading.executor import OrderExecutor, StructureRefused, make_client_order_id
from stockbot.config import AlpacaSettings
from stockbot.domain import AssetClass, Leg, OrderIntent, Side
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import SimServer
from stockbot.store import Store

KEY, SECRET = "SIMKEY_BROKER", "SIMSECRET_BROKER"


@pytest.fixture
async def sim():
    async with SimServer(seed=7, always_open=True,
                         accounts=[AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal("100000"))]) as server:
        yield server


def broker_for(sim, **kw) -> AlpacaBroker:
    settings = AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=sim.url)
    return AlpacaBroker(settings, backoff_s=0.01, **kw)


def posts(sim, path="/v2/orders"):
    return sim.state.requests.query(method="POST", path=path, key_id=KEY)


def stock_intent(cid: str, qty: str = "10", side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(client_order_id=cid, qty=Decimal(qty), symbol="SPY", side=side, purpose="test",
                       decision_id="d1")


async def test_typed_account_clock_quotes_bars(sim):
    b = broker_for(sim)
    acct = await b.account()
    assert acct.equity == Decimal("100000") and isinstance(acct.buying_power, Decimal)
    clock = await b.clock()
    assert clock.ts.tzinfo is not None and clock.is_open
    quotes = await b.latest_quotes(["SPY", "QQQ"])
    assert quotes["SPY"].ask >= quotes["SPY"].bid > 0
    bars = await b.daily_bars(["SPY"], start=datetime.now(timezone.utc) - timedelta(days=400))
    assert len(bars["SPY"]) >= 250 and isinstance(bars["SPY"][0].close, Decimal)


async def test_order_is_stored_before_the_post_and_fills(sim, tmp_path):
    b = broker_for(sim)
    store = Store(tmp_path / "s.db")
    seen_before_post: list[str] = []

    class Spy:
        async def submit(self, intent):
            seen_before_post.append(store.get_order(intent.client_order_id).status)
            return await b.submit(intent)

        async def order_by_client_id(self, cid):
            return await b.order_by_client_id(cid)

    order = await OrderExecutor(Spy(), store).submit(stock_intent("acct-d1-test-1"))
    assert seen_before_post == ["submitting"]
    assert order.status == "filled" and order.filled_qty == Decimal(10)
    assert store.get_order("acct-d1-test-1").status == "filled"
    assert (await b.position("SPY")).qty == Decimal(10)


async def test_504_after_accept_yields_exactly_one_order(sim, tmp_path):
    b = broker_for(sim)
    sim.state.faults.add({"kind": "http_error", "method": "POST", "path": "/v2/orders", "status": 504,
                          "after": True, "times": 1})
    store = Store(tmp_path / "s.db")
    order = await OrderExecutor(b, store, lookup_delay_s=0.01).submit(stock_intent("acct-d1-amb-1"))
    assert order.client_order_id == "acct-d1-amb-1"
    assert len(posts(sim)) == 1  # never re-sent
    all_orders = await b.orders(status="all")
    assert [o.client_order_id for o in all_orders].count("acct-d1-amb-1") == 1
    assert store.get_order("acct-d1-amb-1").broker_id == order.id
    assert [e.kind for e in store.events(kind="order_ambiguous")] == ["order_ambiguous"]


async def test_duplicate_client_id_is_resolved_not_duplicated(sim, tmp_path):
    b = broker_for(sim)
    first = await b.submit(stock_intent("acct-d1-dup-1"))
    store = Store(tmp_path / "s.db")  # a fresh store (e.g. after losing the update) tries again
    again = await OrderExecutor(b, store, lookup_delay_s=0.01).submit(stock_intent("acct-d1-dup-1"))
    assert again.id == first.id
    assert len(await b.orders(status="all")) == 1


async def test_rejections_are_typed_and_recorded(sim, tmp_path):
    b = broker_for(sim)
    store = Store(tmp_path / "s.db")
    with pytest.raises(InsufficientFundsError):
        await OrderExecutor(b, store).submit(stock_intent("acct-d1-big-1", qty="100000"))
    assert store.get_order("acct-d1-big-1").status == "rejected"


async def test_multi_leg_without_mleg_never_leaves_the_process(sim, tmp_path):
    b = broker_for(sim)
    store = Store(tmp_path / "s.db")
    bad = OrderIntent(client_order_id="acct-d1-legs-1", qty=Decimal(1), asset_class=AssetClass.OPTION,
                      legs=(Leg("SPY261218P00600000", Side.SELL), Leg("SPY261218P00595000", Side.BUY)))
    with pytest.raises(StructureRefused, match="LL-221"):
        await OrderExecutor(b, store).submit(bad)
    assert posts(sim) == []
    assert store.get_order("acct-d1-legs-1") is None


async def test_transient_reads_are_retried_then_succeed(sim):
    b = broker_for(sim)
    sim.state.faults.add({"kind": "http_error", "method": "GET", "path": "/v2/account", "status": 503, "times": 2})
    assert (await b.account()).equity > 0
    assert len(sim.state.requests.query(method="GET", path="/v2/account")) == 3


async def test_transient_reads_give_up_after_retries(sim):
    b = broker_for(sim, retries=1)
    sim.state.faults.add({"kind": "http_error", "method": "GET", "path": "/v2/account", "status": 500})
    with pytest.raises(TransientError):
        await b.account()


async def test_wrong_keys_are_rejected_not_retried(sim):
    settings = AlpacaSettings(api_key=SecretStr("nope"), secret_key=SecretStr("nope"), base_url=sim.url)
    with pytest.raises(RejectedError) as err:
        await AlpacaBroker(settings).account()
    assert err.value.status == 401


async def plant(sim, symbol: str, qty: int) -> None:
    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{sim.url}/_sim/positions", json={"key_id": KEY, "symbol": symbol, "qty": qty})
        assert resp.status_code == 201, resp.text


async def test_close_position_uses_delete_positions(sim):
    b = broker_for(sim)
    today = (await b.clock()).ts.date()  # with dates: undated, Alpaca lists this week's only (none on a Friday evening)
    contracts = await b.option_contracts("SPY", expiration_gte=today + timedelta(days=7),
                                         expiration_lte=today + timedelta(days=45))
    put = next(c for c in contracts if c.right.value == "put")
    await plant(sim, put.symbol, -1)
    held = await b.position(put.symbol)
    assert held is not None and held.qty == Decimal(-1)
    order = await b.close_position(put.symbol)
    assert order.symbol == put.symbol and order.side == "buy"
    assert sim.state.requests.query(method="DELETE", path=f"/v2/positions/{put.symbol}")
    assert await b.position(put.symbol) is None


async def test_request_budget_slides():
    now = [0.0]
    budget = RequestBudget(3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        await budget.acquire()
    assert budget.delay_needed() == 60
    now[0] = 59.5
    assert budget.delay_needed() == pytest.approx(0.5)
    now[0] = 60.0
    assert budget.delay_needed() == 0 and budget.used == 0


@pytest.mark.parametrize("account, decision, purpose, attempt, expect", [
    ("sp500", "d42", "condor_open", 1, "sp500-d42-condor_open-1"),
    (None, "d1", "close", 2, "default-d1-close-2"),
])
def test_client_order_id_is_deterministic(account, decision, purpose, attempt, expect):
    assert make_client_order_id(account, decision, purpose, attempt) == expect


def test_long_client_order_id_is_bounded_and_stable():
    a = make_client_order_id("x" * 32, "d" * 40, "condor_open", 1)
    assert len(a) <= 48 and a == make_client_order_id("x" * 32, "d" * 40, "condor_open", 1)
    assert a != make_client_order_id("x" * 32, "d" * 40, "condor_open", 2)
