"""Efficacy, operations classes: stream, keys, calendar, agents, crashes, unknown order state."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from learning_helpers import ACCOUNT, KEY, SECRET
from pydantic import SecretStr

from stockbot.broker.stream import FreshnessTracker, QuoteFeed
from stockbot.config import AlpacaSettings, ExpectSettings, RiskSettings, Settings
from stockbot.consensus.context import MarketContext, StrikeCandidate
from stockbot.consensus.llm import LLMAgent
from stockbot.consensus.runner import ConsensusRunner
from stockbot.consensus.schema import ParamBounds
from stockbot.daemon.health import MarketHours
from stockbot.domain import Action, AssetClass, OrderIntent, PositionIntent, Side, TradeContext, utcnow
from stockbot.trading.deps import orders_in_flight
from stockbot.trading.reconciler import ReconcileError, Reconciler
from stockbot.strategies.condor.recovery import CondorBooker
from stockbot.trading.executor import OrderExecutor
from stockbot.lessons.failure import Failure
from stockbot.preflight import run_checks
from stockbot.risk.gate import RiskContext, RiskGate
from stockbot.risk.states import TradingState
from stockbot.sim.accounts import AccountSpec

pytestmark = pytest.mark.slow
B = ParamBounds()


async def wait_for(cond, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def condor_context() -> MarketContext:
    closes = tuple(500.0 + (i % 5) * 0.8 for i in range(41))
    spot = closes[-1]
    strikes = tuple(StrikeCandidate(right=r, strike=round(spot + off), delta=d, dte=35)
                    for r, off, d in (("put", -25, -0.16), ("put", -20, -0.21), ("call", 20, 0.21), ("call", 25, 0.16)))
    return MarketContext(strategy="condor", symbol="SPY", spot=spot, iv_rank=55.0, iv=0.20, dte_candidates=(28, 35),
                         strikes=strikes, recent_closes=closes)


def stock(cid: str) -> OrderIntent:
    return OrderIntent(client_order_id=cid, qty=Decimal(5), symbol="SPY", side=Side.BUY, asset_class=AssetClass.EQUITY,
                       position_intent=PositionIntent.BUY_TO_OPEN, purpose="entry")


async def test_406_stream_limit(make_loop, record):
    loop = await make_loop()
    settings = AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=loop.sim.url,
                              stream_url=loop.sim.url.replace("http", "ws") + "/v2/iex")
    aloop = asyncio.get_running_loop()
    tracker, events = FreshnessTracker(), []
    ours = QuoteFeed(settings, ["SPY"], aloop, tracker.update, lambda k, d: None)
    intruder = QuoteFeed(settings, ["SPY"], aloop, lambda q: None, lambda k, d: events.append((k, d)))
    ours.start()
    try:
        await wait_for(lambda: ours.connects == 1)
        intruder.start()  # a second process with the same keys: the broker allows one stream per key set
        await wait_for(lambda: any(k == "stream_406" for k, _ in events))
        error = next(d for k, d in events if k == "stream_406")["error"]
        loop.learn(Failure("stream_406", "broker.stream", f"quote stream refused: {error}", {"error": error}),
                   expect="LL-107")
        await asyncio.to_thread(intruder.stop)
        # handled: the 406 was reported (not silent) and the daemon's own stream keeps delivering quotes
        n = ours.received
        await wait_for(lambda: ours.received > n)
        assert tracker.fresh("SPY", 5) is not None
    finally:
        await asyncio.to_thread(intruder.stop)
        await asyncio.to_thread(ours.stop)
    record("406 stream limit", "code", "one QuoteFeed per key set; a 406 is reported and captured, the owner's "
           "stream stays fed")


async def test_wrong_account_keys(make_loop, record):
    other_key, other_secret = "SIMKEY_OTHER", "SIMSECRET_OTHER"
    loop = await make_loop(accounts=[AccountSpec(key_id=KEY, secret=SECRET, multiplier=2, options_level=3),
                                     AccountSpec(key_id=other_key, secret=other_secret, multiplier=1, options_level=0,
                                                 equity=Decimal(30000))])
    wrong = loop.broker_for(other_key, other_secret)
    # 1. the copied env file: this account's daemon trades in the other account
    await wrong.submit(stock("wrong-0"))
    assert await wrong.position("SPY") is not None and await loop.broker.position("SPY") is None
    loop.learn(Failure("wrong_account", "preflight", "orders landed in another brokerage account: the API keys "
                       "belonged to a different account", {"reason": "keys of another account"}), expect="LL-196")
    # 2. the repeat: the preflight compares the broker account with what this account expects
    settings = Settings(account=ACCOUNT, alpaca=AlpacaSettings(api_key=SecretStr(other_key),
                                                               secret_key=SecretStr(other_secret), base_url=loop.sim.url),
                        expect=ExpectSettings(multiplier=Decimal(2), options_level=3))
    result = await run_checks(settings, broker_kwargs={"backoff_s": 0.01})
    assert not result.ok and {c.name for c in result.failed} >= {"multiplier", "options level"}
    right = settings.model_copy(update={"alpaca": AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET),
                                                                 base_url=loop.sim.url)})
    assert (await run_checks(right, broker_kwargs={"backoff_s": 0.01})).ok
    record("wrong account keys", "code", "preflight refuses to start when the broker account is not the expected one")


async def test_holiday_order(make_loop, record):
    thanksgiving = datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc)
    loop = await make_loop(start_at=thanksgiving, always_open=False)
    # 1. the old weekday cron: an entry sent on a market holiday is queued for the next open
    order = await loop.broker.submit(stock("holiday-0"))
    assert order.status != "filled"
    loop.learn(Failure("market_closed", "engine.entry", "entry order sent on a market holiday (Thanksgiving) was "
                       "queued for the next open", {"reason": "market closed: holiday"}), expect="LL-204")
    await loop.broker.cancel(order.id)
    # 2. the repeat: the decision job asks the broker's calendar and clock first; the gate needs an open market
    hours = MarketHours(loop.broker)
    assert not await hours.trading_day() and not await hours.is_open()
    now = utcnow()
    t = TradeContext(account=ACCOUNT, strategy="equity", symbol="SPY", now=now)
    ctx = RiskContext(now=now, trade=t, trading_state=TradingState.ACTIVE, equity=Decimal(100000),
                      start_of_day_equity=Decimal(100000), start_of_week_equity=Decimal(100000), orders_last_hour=0,
                      orders_today=0, open_positions=0, market_open=await hours.is_open(), live_allowed=True,
                      risk_of_this_order=Decimal(100), quote_age_s=1.0)
    denied = RiskGate(RiskSettings()).check(stock("holiday-1"), ctx)
    assert not denied.ok and denied.rule == "trading_hours"
    record("holiday order", "code", "decisions only on broker calendar trading days; gate trading_hours")


async def _storm(loop, behaviour: str, decision_id: str, timeout_s: float = 0.3):
    agents = [LLMAgent(f"a{i}", f"openai/scripted-{behaviour}", B, api_base=loop.sim.url + "/v1", api_key="sk-sim",
                       timeout_s=timeout_s) for i in range(3)]
    started = asyncio.get_running_loop().time()
    res = await ConsensusRunner(agents, bounds=B, store=loop.store, deadline_s=5).decide(condor_context(),
                                                                                         decision_id=decision_id)
    return res, asyncio.get_running_loop().time() - started


async def test_llm_timeout_storm(make_loop, record):
    loop = await make_loop()
    res, took = await _storm(loop, "timeout", "storm-1")
    assert res.action is Action.HOLD and all(b.error for b in res.ballots)
    first = loop.learn(Failure("agent_timeout", "consensus", "every LLM agent timed out during a provider outage",
                               {"reason": "timeout", "error_type": "timeout"}, strategy="condor"), expect="LL-237")
    # the repeat: the next cycle is again HOLD within its own timeouts (no overlap, no retry pile-up),
    # and the storm is one lesson, not one per call
    res, took = await _storm(loop, "timeout", "storm-2")
    assert res.action is Action.HOLD and took < 3
    again = [loop.capture.capture(Failure("agent_timeout", "consensus", "every LLM agent timed out during a "
                                          "provider outage", {"reason": "timeout", "error_type": "timeout"},
                                          strategy="condor")) for _ in range(5)]
    assert {a.action for a in again} == {"rate_limited"} and {a.lesson_id for a in again} == {first.lesson_id}
    record("LLM timeout storm", "code", "timeouts are HOLD votes under one deadline; capture rate-limits the storm")


async def test_invalid_agent_output(make_loop, record):
    loop = await make_loop()
    res, _ = await _storm(loop, "malformed", "bad-1", timeout_s=5)
    assert res.action is Action.HOLD and all(b.error for b in res.ballots)
    failure = Failure("agent_invalid_output", "consensus", "agents answered truncated JSON",
                      {"reason": res.ballots[0].error[:80], "error_type": "invalid_output"}, strategy="condor")
    first = loop.learn(failure, expect="-")
    res, _ = await _storm(loop, "malformed", "bad-2", timeout_s=5)
    assert res.action is Action.HOLD  # fail closed again: no order can follow an unparsable answer
    assert loop.capture.capture(failure).lesson_id == first.lesson_id  # the same lesson, not a new one
    record("invalid agent output", "code", "unparsable answers are HOLD votes; captured once per fingerprint")


async def test_job_exception_storm(make_loop, record):
    loop = await make_loop()
    loop.sim.state.faults.add({"kind": "http_error", "method": "GET", "path": "/v2/account", "status": 500})
    errors = []
    for _ in range(10):  # the eod job crashing on every run
        try:
            await loop.broker.account()
        except Exception as exc:  # noqa: BLE001 - the job wrapper catches everything
            errors.append(exc)
    assert len(errors) == 10
    results = [loop.capture.capture(Failure.from_exception("daemon.eod", e, job="eod")) for e in errors]
    created = [r for r in results if r.action == "created"]
    assert len(created) == 1 and all(r.lesson_id == created[0].lesson_id for r in results)
    hits = [r.id for r in loop.service.search(f"job eod crashed: {errors[0]}", 3)]
    assert created[0].lesson_id in hits
    record("job exception storm", "code", "ten crashes -> one lesson (fingerprint + rate limit); the loop keeps running")


async def test_unknown_order_state_blocks_entries(make_loop, record):
    loop = await make_loop()
    intent = stock("unknown-0")
    loop.store.record_order_intent(intent)  # POST outcome never recorded
    rule = loop.sim.state.faults.add({"kind": "http_error", "method": "GET", "path": "/v2/orders.*", "status": 500})
    executor = OrderExecutor(loop.broker, loop.store, lookup_delay_s=0.01)
    with pytest.raises(ReconcileError) as err:
        await Reconciler(ACCOUNT, loop.broker, loop.store, executor, booker=CondorBooker(loop.store, loop.broker)).run(startup=True)
    loop.learn(Failure("reconcile_mismatch", "engine.reconcile", f"start-up reconciliation failed: {err.value}",
                       {"reason": "order state unknown"}), expect="LL-290")
    # the repeat: while an order's fate is unknown, no new entry is decided (the engine returns "blocked")
    assert [o.client_order_id for o in orders_in_flight(loop.store)] == ["unknown-0"]
    loop.sim.state.faults.remove(rule.id)
    await Reconciler(ACCOUNT, loop.broker, loop.store, executor, booker=CondorBooker(loop.store, loop.broker)).run(startup=True)
    assert orders_in_flight(loop.store) == []
    record("reconcile mismatch (unknown order state)", "code", "start-up refuses until every order is resolved; "
           "orders in flight block entries")


async def test_startup_refused_is_captured_by_the_daemon_and_refused_again(make_loop, record, embedder):
    from stockbot.config import Settings as _Settings
    from stockbot.daemon import EXIT_REFUSED, Daemon, StartupRefused
    from stockbot.daemon.jobs import Timings
    from stockbot.lessons.files import LessonStore
    from stockbot.lessons.index import LessonIndex
    from stockbot.lessons.service import LessonService
    from stockbot.sdnotify import SdNotifier

    loop = await make_loop()
    loop.sim.state.faults.add({"kind": "http_error", "method": "GET", "path": "/v2/positions", "status": 500})
    settings = _Settings(account=ACCOUNT, alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET),
                                                                base_url=loop.sim.url))
    quiet = Timings(decision_cron=None, decision_every_s=3600, manage_every_s=3600, reconcile_every_s=3600,
                    health_every_s=0.5, eod_cron=None, eod_every_s=3600, stream_silence_s=30, stop_timeout_s=10,
                    clock_ttl_s=0.5)

    async def start() -> StartupRefused:
        daemon = Daemon(settings, timings=quiet, sd=SdNotifier({}), broker_kwargs={"backoff_s": 0.01})
        try:
            await daemon.start()
        except StartupRefused as exc:
            return exc
        await daemon.stop()
        raise AssertionError("the daemon started on a broker whose positions it cannot read")

    loop.store.close()  # the daemon owns the account's state.db and its embedded index while it runs
    loop.service.index.close()
    first = await start()
    assert first.exit_code == EXIT_REFUSED and "positions" in first.reason, first.reason
    learned = [x for x in LessonStore(ACCOUNT).load().lessons if x.source == "captured"]
    assert len(learned) == 1 and "refused to start" in learned[0].title  # the daemon wrote it itself
    index = LessonIndex.open(embedder, ACCOUNT)
    try:
        service = LessonService(LessonStore(ACCOUNT), index)
        hits = [r.id for r in service.search("daemon refused to start: reconciliation failed reading positions", 3)]
    finally:
        index.close()
    assert learned[0].id in hits
    again = await start()  # the repeat: refused again before any order, the same lesson counted
    assert again.exit_code == EXIT_REFUSED and loop.posts() == []
    learned = [x for x in LessonStore(ACCOUNT).load().lessons if x.source == "captured"]
    assert len(learned) == 1
    record("start-up refused (broker unreadable)", "code", "never trades from an unknown state: refused, "
           "captured by the daemon itself, refused again with no order")
