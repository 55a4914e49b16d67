"""Production-defaults defect 4: halts are alerted once, recorded, and a floor breach writes STOP."""

from __future__ import annotations

from decimal import Decimal as D

from simfixtures import RecordingAlerter

from stockbot.config import RiskSettings, Settings, ValidationSettings
from stockbot.domain import AccountSnapshot, OrderIntent
from stockbot.trading.deps import EngineDeps, Notifier
from stockbot.flags import read_stop, write_stop
from stockbot.risk.gate import RiskGate

ACCOUNT = "halts"


def snapshot(equity: str, last: str = "100000") -> AccountSnapshot:
    return AccountSnapshot("PA1", "ACTIVE", D(equity), D(last), D(equity), D(equity))


def deps(store, alerts, **risk) -> EngineDeps:
    settings = Settings(account=ACCOUNT, risk=RiskSettings(**risk))
    return EngineDeps(ACCOUNT, settings, None, store, None, RiskGate(settings.risk), Notifier(alerter=alerts))


async def test_daily_loss_limit_alerts_once_and_is_recorded(store):
    alerts = RecordingAlerter()
    d = deps(store, alerts)
    await d.observe(snapshot("100000"))
    assert store.events(kind="trading_state") == [] and alerts.sent == []  # healthy: nothing to say
    await d.observe(snapshot("96500"))  # -3.5% today, limit 3%
    await d.observe(snapshot("96400"))  # same state, same reasons: no second alert
    [event] = store.events(kind="trading_state")
    assert event.payload["state"] == "REDUCING" and event.payload["reasons"] == ["daily_loss_limit reached"]
    assert alerts.kinds() == ["halt"] and "daily_loss_limit" in alerts.sent[0][1]
    await d.observe(snapshot("100500"))  # a new day's figures: back to ACTIVE, recorded, not alerted
    assert [e.payload["state"] for e in store.events(kind="trading_state")] == ["REDUCING", "ACTIVE"]
    assert alerts.kinds() == ["halt"]


async def test_equity_floor_writes_the_stop_flag_and_alerts_floor_breach(store):
    alerts = RecordingAlerter()
    d = deps(store, alerts, equity_floor=D("50000"), daily_loss_limit=1.0, weekly_loss_limit=1.0)
    await d.observe(snapshot("49000", last="49500"))
    stop = read_stop(ACCOUNT)
    assert stop is not None and stop["who"].startswith("stockbot") and "RISK_EQUITY_FLOOR" in stop["why"]
    assert alerts.kinds() == ["floor_breach"]
    [event] = store.events(kind="trading_state")
    assert event.payload["state"] == "HALTED" and event.payload["stop_written"] is True
    # Equity back above the floor: still HALTED, the daemon's STOP flag needs a person.
    await d.observe(snapshot("51000", last="49500"))
    assert read_stop(ACCOUNT) is not None and d.trading_state(snapshot("51000")).state.value == "HALTED"
    assert alerts.kinds() == ["floor_breach"]  # the same halt is not alerted twice


async def test_operator_stop_is_a_halt_transition(store):
    alerts = RecordingAlerter()
    d = deps(store, alerts)
    write_stop(ACCOUNT, "maintenance", who="ops")
    await d.observe(snapshot("100000"))
    assert alerts.kinds() == ["halt"] and "stop_flag" in alerts.sent[0][1]


async def test_every_live_order_under_the_override_is_recorded_and_alerted(store):
    from stockbot.config import AlpacaSettings
    from stockbot.domain import TradeContext, utcnow
    from stockbot.options.condor import condor_from_symbols, condor_intent

    alerts = RecordingAlerter()
    settings = Settings(account=ACCOUNT, alpaca=AlpacaSettings(paper=False),
                        validation=ValidationSettings(live_override=True))
    d = EngineDeps(ACCOUNT, settings, None, store, None, RiskGate(settings.risk), Notifier(alerter=alerts))
    condor = condor_from_symbols(("SPY261224C00679000", "SPY261224C00684000", "SPY261224P00620000",
                                  "SPY261224P00615000"), D("1.28"))
    intent: OrderIntent = condor_intent(condor, 1, D("-1.28"), "halts-d1-condor_open-0", decision_id="d1")
    trade = TradeContext(ACCOUNT, "condor", "SPY", utcnow(), order_type="mleg limit", quote_age_s=1.0)
    ctx = d.risk_context(snapshot("100000"), market_open=True, open_positions=0, trade=trade,
                         risk=D("372"), quote_age_s=1.0)
    assert (await d.check(intent, ctx)).ok
    [event] = store.events(kind="live_override_used")
    assert event.payload["client_order_id"] == "halts-d1-condor_open-0"
    assert alerts.kinds() == ["live_override"]


async def test_halts_are_on_the_dashboard(tmp_path):
    from stockbot.config import account_paths
    from stockbot.dashboard.data import collect_account
    from stockbot.store import Store

    store = Store(account_paths(ACCOUNT)["state_db"])
    alerts = RecordingAlerter()
    await deps(store, alerts).observe(snapshot("96000"))
    store.close()
    data, _ = collect_account(ACCOUNT)
    kinds = [e.kind for e in data.health.recent]
    assert "trading_state" in kinds and data.state_name == "REDUCING"
