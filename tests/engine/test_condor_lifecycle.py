"""A condor's whole life on the local exchange, through the real adapter and scripted LLM agents:
one mleg entry walked from mid to natural, management, and each way out (take profit, stop loss,
time exit), every order an atomic four-leg mleg order."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from stockbot.strategies.condor.manage import closing_debits
from stockbot.strategies.condor.snapshot import ATM_IV_EVENT
from stockbot.strategies.condor.trades import condor_of
from stockbot.options.condor import NY


def assert_all_orders_mleg(rig, n_legs: int = 4) -> list[dict]:
    """Every order POST the sim saw is one mleg order with ``n_legs`` legs and its own client id."""
    posts = rig.order_posts()
    assert posts, "no order was sent"
    for p in posts:
        body = p["body"]
        assert body["order_class"] == "mleg" and len(body["legs"]) == n_legs, body
        assert "symbol" not in body and "side" not in body
    cids = [p["body"]["client_order_id"] for p in posts]
    assert len(set(cids)) == len(cids)
    return posts


async def enter(rig):
    out = await rig.engine.decide()
    assert out.status == "entered", out.reason
    return out, rig.store.trades(status="open")[0]


async def debit_now(rig, trade) -> Decimal:
    condor = condor_of(trade)
    return closing_debits(condor, await rig.broker.option_quotes(list(condor.symbols)))[0]


async def test_entry_is_one_mleg_order_walked_from_mid_to_natural(make_sim, store, build):
    sim = await make_sim()  # "touch" fills: only the natural credit fills
    rig = build(sim, store)
    out, trade = await enter(rig)

    posts = assert_all_orders_mleg(rig)
    limits = [Decimal(str(p["body"]["limit_price"])) for p in posts]
    assert len(posts) == len(out.attempts) >= 2 and limits == sorted(limits)  # credit shrinks rung by rung
    assert all(lim < 0 for lim in limits)  # negative = credit
    assert [a.status for a in out.attempts] == ["canceled"] * (len(posts) - 1) + ["filled"]
    # every rung was recorded under its own client id before it was sent
    rows = {o.client_order_id: o for o in store.orders()}
    assert [rows[p["body"]["client_order_id"]].status for p in posts][-1] == "filled"
    assert len(rig.requests("DELETE", prefix="/v2/orders/")) == len(posts) - 1

    # the trade: four signed legs, the filled credit, the decision with its prompt and votes
    assert trade.structure_id == out.decision_id and trade.entry_price == -limits[-1]
    assert sorted(leg.qty for leg in trade.legs) == [-1, -1, 1, 1]
    assert Decimal(trade.meta["max_loss"]) == (Decimal(trade.meta["width"]) - trade.entry_price) * 100
    decision = store.decisions()[0]
    assert decision.decision_id == out.decision_id and decision.action == "ENTER" and decision.prompt
    assert decision.context["iv_rank"]["method"] == "realized"  # a new account bootstraps IV rank
    assert len(store.votes(out.decision_id)) == 3
    assert [e.payload["date"] for e in store.events(kind=ATM_IV_EVENT)] == ["2026-11-18"]
    positions = {p.symbol: p.qty for p in await rig.broker.positions()}
    assert positions == {leg.symbol: leg.qty for leg in trade.legs}


async def test_hold_then_take_profit_after_time_decay(make_sim, store, build, settings_for):
    sim = await make_sim()
    rig = build(sim, store)
    _, trade = await enter(rig)
    assert [o.action for o in await rig.engine.manage()] == ["hold"]

    await rig.admin("POST", "/_sim/clock/jump", {"seconds": 15 * 86400})
    credit = trade.entry_price
    profit_share = 1 - await debit_now(rig, trade) / credit
    assert profit_share > Decimal("0.05"), "fifteen days of theta should have decayed the condor"
    # Restart with a take-profit threshold the decayed condor has passed (same store).
    settings = settings_for(sim, condor={"take_profit_pct": float(profit_share / 2)})
    rig = build(sim, store, settings)
    before = len(rig.order_posts())
    [outcome] = await rig.engine.manage()

    assert outcome.action == "closed" and outcome.reason.startswith("take_profit"), outcome
    closes = rig.order_posts()[before:]
    assert closes and all(p["body"]["order_class"] == "mleg" and len(p["body"]["legs"]) == 4 for p in closes)
    assert {leg["position_intent"] for p in closes for leg in p["body"]["legs"]} == {"buy_to_close", "sell_to_close"}
    assert all(Decimal(str(p["body"]["limit_price"])) > 0 for p in closes)  # a debit
    closed = store.trades(status="closed")[0]
    assert closed.pnl == (credit - closed.exit_price) * 100 > 0
    assert closed.meta["close_reason"] == "take_profit" and closed.meta["close_method"] == "mleg"
    assert await rig.broker.positions() == []


async def test_stop_loss_closes_with_one_mleg_order(make_sim, store, build, settings_for):
    sim = await make_sim()
    rig = build(sim, store)
    _, trade = await enter(rig)
    credit = trade.entry_price
    loss_share = await debit_now(rig, trade) / credit - 1
    assert loss_share > 0, "filled at the natural credit: buying back at mid costs more than the credit"
    rig = build(sim, store, settings_for(sim, condor={"stop_loss_mult": float(loss_share / 2)}))
    [outcome] = await rig.engine.manage()

    assert outcome.action == "closed" and outcome.reason.startswith("stop_loss"), outcome
    assert_all_orders_mleg(rig)
    closed = store.trades(status="closed")[0]
    assert closed.meta["close_reason"] == "stop_loss" and closed.pnl < 0
    assert await rig.broker.positions() == []


async def test_time_exit_at_the_dte_floor(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    _, trade = await enter(rig)
    expiration = datetime.fromisoformat(trade.meta["expiration"]).date()
    # 10:30 New York, six calendar days before expiration: below the default exit floor of 7.
    target = datetime.combine(expiration - timedelta(days=6), time(10, 30), NY)
    await rig.admin("POST", "/_sim/clock/jump", {"to": target.isoformat()})
    [outcome] = await rig.engine.manage()

    assert outcome.action == "closed" and outcome.reason.startswith("time_exit"), outcome
    assert_all_orders_mleg(rig)
    assert store.trades(status="closed")[0].meta["close_reason"] == "time_exit"
    assert await rig.broker.positions() == []
    assert (await rig.reconciler.run()).clean


async def test_hold_vote_sends_nothing(make_sim, store, build, settings_for):
    sim = await make_sim()
    rig = build(sim, store, settings_for(sim, agent="scripted-hold"))
    out = await rig.engine.decide()
    assert out.status == "hold" and rig.order_posts() == []
    assert store.decisions()[0].action == "HOLD" and store.trades() == []
