"""One equity account's cycle on the sim: profiles, halts, holds, lesson guards, out of capital,
and the last universe check before any order."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.trading.executor import OrderExecutor
from stockbot.config import AgentSettings, AgentSpec, AlpacaSettings, EquitySettings, RiskSettings, Settings
from stockbot.trading.ladder import LadderTiming
from stockbot.strategies.equity.context import consensus_for
from stockbot.strategies.equity.engine import EquityEngine
from stockbot.strategies.equity.execution import PlanExecutor
from stockbot.strategies.equity.screener import TrainConfig
from stockbot.strategies.equity.strategy import CloseAction, OpenAction, RebalancePlan
from stockbot.strategies.equity.universes import UniverseError, load_universe
from stockbot.flags import write_stop
from stockbot.lessons.guards import parse_guard
from stockbot.risk.gate import RiskGate
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import SimServer
from stockbot.store import Store

T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)
KEY, SECRET = "SIMKEY_EQ", "SIMSECRET_EQ"
UNI = load_universe("sp500").subset(["JPM", "XOM", "JNJ", "PG", "KO", "PEP", "WMT", "HD", "CVX", "MRK", "ABBV",
                                     "BAC", "MCD", "CSCO", "ORCL", "IBM"])
FAST = LadderTiming(poll_interval_s=0.02, fill_timeout_s=1.0, cancel_timeout_s=2.0)
TRAIN = TrainConfig(max_iter=12, steps=2, n_folds=2, min_rows=100)
# The seed lessons' guards (LL-221 require_mleg, LL-282 close_via_close_position) as in production.
SEED_GUARDS = (parse_guard({"kind": "require_mleg"}, "LL-221"), parse_guard({"kind": "close_via_close_position"},
                                                                            "LL-282"))


@pytest.fixture
async def make_sim():
    started = []

    async def make(**spec) -> SimServer:
        account = AccountSpec(key_id=KEY, secret=SECRET, **{"equity": Decimal(100_000), **spec})
        server = SimServer(seed=11, always_open=True, start_at=T0, freeze=True, accounts=[account])
        await server.start()
        started.append(server)
        return server

    yield make
    for s in started:
        await s.stop()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def make_engine(sim: SimServer, store: Store, *, profile="conservative", agent="scripted-enter", guards=(),
                risk=None, top_k=4) -> EquityEngine:
    agents = tuple(AgentSpec(name=f"a{i}", kind="llm", model=f"openai/{agent}", api_base=f"{sim.url}/v1",
                             api_key=SecretStr("sk-sim"), timeout_s=20) for i in range(3))
    s = Settings(account="eq", strategy="equity",
                 alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=sim.url),
                 agents=AgentSettings(agents=agents),
                 equity=EquitySettings(universe="sp500", profile=profile, top_k=top_k, max_position_pct=0.2),
                 risk=RiskSettings(**{"max_quote_age_s": 120, "max_risk_per_trade": 0.2, **(risk or {})}))
    broker = AlpacaBroker(s.alpaca, backoff_s=0.01)
    return EquityEngine("eq", s, broker, store, OrderExecutor(broker, store, lookup_attempts=2, lookup_delay_s=0.02),
                        RiskGate(s.risk, guards), consensus_for(s, store=store), universe=UNI, timing=FAST,
                        train_config=TRAIN)


def order_posts(sim: SimServer) -> list[dict]:
    return sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)


async def test_conservative_is_long_only_within_one_times_equity(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store, guards=SEED_GUARDS)
    await engine.train()
    out = await engine.decide()
    assert out.status == "rebalanced", out.reason
    assert out.strategy_version == "eq-conservative-2026-11-18"
    assert out.execution.opened and {o["side"] for o in out.execution.opened} == {"long"}
    positions = await engine.deps.broker.positions()
    gross = sum(abs(p.market_value) for p in positions)
    assert all(p.qty > 0 for p in positions) and gross <= Decimal(100_000)
    assert all(abs(p.market_value) <= Decimal(20_000) * Decimal("1.01") for p in positions)  # 20% cap
    decision = store.decisions(limit=1)[0]
    assert decision.params["strategy_version"] == "eq-conservative-2026-11-18"
    assert decision.context["profile"] == "conservative" and len(store.votes(decision.decision_id)) == 3
    # Everything was sent market, once, with the client id stored first.
    assert {p["body"]["type"] for p in order_posts(sim)} == {"market"}
    assert all(store.get_order(p["body"]["client_order_id"]) for p in order_posts(sim))


async def test_closes_pass_the_seed_lesson_guards(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store, guards=SEED_GUARDS)
    await engine.train()
    assert (await engine.decide()).status == "rebalanced"
    # Nothing agreed any more: everything this strategy owns is closed through close_position().
    engine.consensus = consensus_for(engine.deps.settings.model_copy(update={"agents": AgentSettings(agents=tuple(
        AgentSpec(name=f"h{i}", kind="llm", model="openai/scripted-hold", api_base=f"{sim.url}/v1",
                  api_key=SecretStr("sk")) for i in range(3)))}), store=store)
    held = {p.symbol for p in await engine.deps.broker.positions()}
    out = await engine.decide()
    assert out.status == "hold"  # HOLD keeps the book: no agreement is not a reason to dump it
    assert {p.symbol for p in await engine.deps.broker.positions()} == held
    from stockbot.strategies.equity.strategy import rebalance_plan
    plan = rebalance_plan(await engine.deps.broker.positions(), {}, held)
    report = await PlanExecutor(engine.deps, engine.ladder, UNI, strategy="equity").run(
        plan, decision_id="manual-1", version="v", context_for=_ctx(engine), buying_power=Decimal(0),
        held={p.symbol: p.qty for p in await engine.deps.broker.positions()})
    assert not report.denied and len(report.closed) == len(held)
    assert await engine.deps.broker.positions() == []
    deletes = sim.state.requests.query(method="DELETE", path_prefix="/v2/positions/", key_id=KEY)
    assert {d["path"].rsplit("/", 1)[-1] for d in deletes} == held


def _ctx(engine):
    async def context_for(symbol, *, closing, open_positions, risk=None):
        from stockbot.domain import TradeContext
        account = await engine.deps.broker.account()
        tc = TradeContext("eq", "equity", symbol, engine.deps.now(), order_type="market", quote_age_s=0.0)
        return engine.deps.risk_context(account, market_open=True, open_positions=open_positions, trade=tc,
                                        is_closing=closing, risk=risk, quote_age_s=0.0)
    return context_for


async def test_max_aggro_on_an_account_without_shorting_stays_long(make_sim, store):
    sim = await make_sim(shorting=False)
    engine = make_engine(sim, store, profile="max_aggro")
    await engine.train()
    out = await engine.decide()
    assert out.status == "rebalanced" and {c.side for c in out.proposed} == {"long"}
    assert all(p.qty > 0 for p in await engine.deps.broker.positions())


async def test_stop_flag_halts_before_anything_is_asked(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store)
    await engine.train()
    write_stop("eq", "test")
    out = await engine.decide()
    assert out.status == "halted" and not order_posts(sim) and not store.decisions()


async def test_without_a_model_the_account_holds_and_says_why(make_sim, store):
    sim = await make_sim()
    out = await make_engine(sim, store).decide()
    assert out.status == "no_model" and "stockbot train --account eq" in out.reason
    assert store.events(kind="screener_unavailable") and not order_posts(sim)


async def test_hold_votes_send_nothing_but_are_recorded(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store, agent="scripted-hold")
    await engine.train()
    out = await engine.decide()
    assert out.status == "hold" and not order_posts(sim)
    assert store.decisions(limit=1)[0].action == "HOLD"


async def test_a_lesson_guard_denies_one_symbol_and_the_rest_trades(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store)
    await engine.train()
    first = (await engine.screen()).ranked[0].symbol
    engine.deps.gate = RiskGate(engine.deps.gate.settings, (parse_guard({"kind": "block_symbol", "symbol": first},
                                                                        "LL-900"),))
    out = await engine.decide()
    assert out.status == "rebalanced"
    assert [d["symbol"] for d in out.execution.denied] == [first]
    assert out.execution.denied[0]["rule"] == "lesson:LL-900"
    assert first not in {p["body"]["symbol"] for p in order_posts(sim)} and out.execution.opened
    assert any(e.payload["rule"] == "lesson:LL-900" for e in store.events(kind="order_denied"))


async def test_out_of_capital_is_a_state_not_a_crash(make_sim, store):
    sim = await make_sim(equity=Decimal(100_000), multiplier=1)
    engine = make_engine(sim, store)
    await engine.train()
    async with httpx.AsyncClient(base_url=sim.url) as client:  # a manual position eats the buying power
        r = await client.post("/_sim/positions", json={"key_id": KEY, "symbol": "SPY", "qty": "140",
                                                       "adjust_cash": True})
        r.raise_for_status()
    out = await engine.decide()
    assert out.status == "rebalanced" and out.execution.out_of_capital
    assert store.events(kind="out_of_capital") and "SPY" in out.plan.untouched
    assert "SPY" not in {p["body"]["symbol"] for p in order_posts(sim)}  # never traded against


async def test_the_executor_refuses_a_plan_outside_the_universe(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store)
    plan = RebalancePlan(opens=(OpenAction("AAPL", "long", Decimal(1), Decimal(100), "smuggled"),))
    with pytest.raises(UniverseError, match="AAPL"):
        await PlanExecutor(engine.deps, engine.ladder, UNI, strategy="equity").run(
            plan, decision_id="d", version="v", context_for=_ctx(engine), buying_power=Decimal(10**6), held={})
    assert not order_posts(sim)


async def fault(sim: SimServer, **rule) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        (await client.post("/_sim/faults", json={"key_id": KEY, **rule})).raise_for_status()


async def test_a_flip_whose_close_fails_is_not_reopened_short(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store)
    await engine.train()
    assert (await engine.decide()).status == "rebalanced"
    pos = (await engine.deps.broker.positions())[0]
    await fault(sim, kind="http_error", method="DELETE", path=f"/v2/positions/{pos.symbol}", status=500)
    plan = RebalancePlan(closes=(CloseAction(pos.symbol, pos.qty, True, "side flipped to short"),),
                         opens=(OpenAction(pos.symbol, "short", Decimal(1), Decimal(1), "reopen on the new side"),))
    report = await PlanExecutor(engine.deps, engine.ladder, UNI, strategy="equity").run(
        plan, decision_id="flip-1", version="v", context_for=_ctx(engine), buying_power=Decimal(10**6),
        held={p.symbol: p.qty for p in await engine.deps.broker.positions()})
    assert not report.closed and not report.opened
    assert any("close_position" in e for e in report.errors) and any("skipped" in e for e in report.errors)
    assert not [p for p in order_posts(sim) if p["body"]["client_order_id"].startswith("eq-flip-1")]
    assert (await engine.deps.broker.position(pos.symbol)).qty == pos.qty  # untouched, still long


async def test_an_ambiguous_submit_is_looked_up_and_booked_once(make_sim, store):
    sim = await make_sim()
    engine = make_engine(sim, store, top_k=2)
    await engine.train()
    # The broker accepts the first order but the answer is lost (504 after the fact).
    await fault(sim, kind="http_error", method="POST", path="/v2/orders", status=504, after=True, times=1)
    out = await engine.decide()
    assert out.status == "rebalanced" and len(out.execution.opened) == 2, out.execution
    symbols = [p["body"]["symbol"] for p in order_posts(sim)]
    assert len(symbols) == len(set(symbols)) == 2  # never re-sent
    assert store.events(kind="order_ambiguous")
    trades = store.trades(status="open")
    assert sorted(t.meta["symbol"] for t in trades) == sorted(symbols)
    held = {p.symbol: p.qty for p in await engine.deps.broker.positions()}
    assert {t.meta["symbol"]: t.qty for t in trades} == held


async def test_jobs_train_only_when_the_model_is_missing_or_old(make_sim, store):
    from stockbot.broker.errors import BrokerError
    from stockbot.strategies.equity.services import EquityStrategy

    sim = await make_sim()
    engine = make_engine(sim, store)
    jobs = EquityStrategy(engine, engine.deps.settings)
    assert (await jobs.ensure_model()) is not None  # none yet: trains
    assert (await jobs.ensure_model()) is None  # fresh: nothing to do
    assert len(store.events(kind="screener_trained")) == 1
    assert (await jobs.decide()).status == "rebalanced"
    assert (await jobs.advise()).path.name == "2026-11-18.json"
    assert (await jobs.grade()).pending_days == ["2026-11-18"]
    await fault(sim, kind="http_error", method="GET", path="/v2/clock", status=500, times=20)
    jobs.retrain_after_days = -1
    with pytest.raises(BrokerError):
        await jobs.ensure_model()  # a broker fault surfaces to the daemon's guarded job wrapper
