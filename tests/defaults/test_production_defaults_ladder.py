"""Defect 1 of the production-defaults issue: under the shipped defaults the entry walk died after
its first rung (rung 0 rests CONDOR_FILL_TIMEOUT_S=20 s, then rung 1 was denied by
RISK_MAX_QUOTE_AGE_S=15 because every rung was priced from the decision's snapshot).

The market here fills only at the touch (the sim's default), so the mid never fills and only a rung
at the natural does: the walk has to survive 20 s rests and reach a later rung, each rung priced
from the legs' quotes read right before it. Real rung timings (about a minute of waiting)."""

from __future__ import annotations

import pytest

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.trading.executor import OrderExecutor
from stockbot.consensus.runner import ConsensusRunner
from stockbot.strategies.condor.engine import CondorEngine
from stockbot.risk.gate import RiskGate
from stockbot.store import Store

from .conftest import ACCOUNT, KEY, shipped_settings

pytestmark = pytest.mark.slow


async def test_production_defaults_entry_fills_on_a_later_rung(prod_sim, tmp_path):
    sim = await prod_sim()
    settings = shipped_settings(sim.url)
    c = settings.condor
    assert (c.fill_timeout_s, settings.risk.max_quote_age_s, sim.state.exchange.mleg_fill) == (20, 15, "touch")
    store = Store(tmp_path / "state.db")
    broker = AlpacaBroker(settings.alpaca)
    engine = CondorEngine(ACCOUNT, settings, broker, store, OrderExecutor(broker, store), RiskGate(settings.risk),
                          ConsensusRunner.from_settings(settings, store=store))
    out = await engine.decide()
    assert out.status == "entered", (out.status, out.reason, out.attempts)
    assert len(out.attempts) >= 2 and [a.status for a in out.attempts[:-1]] == ["canceled"] * (len(out.attempts) - 1)
    assert out.attempts[-1].status == "filled"
    posts = sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)
    assert len(posts) == len(out.attempts)
    bodies = [p["body"] for p in posts]
    assert all(b["order_class"] == "mleg" and len(b["legs"]) == 4 for b in bodies)
    # Every rung was priced from quotes read right before it (one snapshot request per rung).
    quote_reads = sim.state.requests.query(method="GET", path="/v1beta1/options/snapshots", key_id=KEY)
    assert len(quote_reads) >= len(out.attempts)
    prices = [a.limit_price for a in out.attempts]
    assert prices == sorted(prices) and prices[0] < prices[-1] < 0  # from mid toward natural, credits
    assert not store.events(kind="order_denied")
    trade = store.trades(status="open")[0]
    assert trade.entry_price is not None and -prices[-1] <= trade.entry_price
    store.close()
