"""A condor decision on the local exchange with greeks and IV dropped from every option snapshot
(as Alpaca leaves them out for some contracts): the daemon implies IV from each quote's mid and
delta from it, and still enters the same condor it enters with the feed's greeks."""

from __future__ import annotations

from datetime import date

from stockbot.strategies.condor.snapshot import ATM_IV_EVENT
from stockbot.strategies.condor.trades import condor_of
from stockbot.store import Store


async def _decide(make_sim, build, tmp_path, name: str, drop: float):
    sim = await make_sim()
    store = Store(tmp_path / f"{name}.db")
    rig = build(sim, store)
    got = await rig.admin("POST", "/_sim/settings", {"greeks_drop_fraction": drop, "greeks_drop_seed": 1})
    assert got["greeks_drop_fraction"] == drop
    out = await rig.engine.decide()
    return rig, store, out


async def test_a_condor_enters_without_any_greeks_or_iv(make_sim, build, tmp_path):
    rig, store, out = await _decide(make_sim, build, tmp_path, "bare", 1.0)
    dec18 = date(2026, 12, 18)
    chain = await rig.broker.option_chain("SPY", expiration_gte=dec18, expiration_lte=dec18)
    assert chain and all(q.delta is None and q.iv is None for q in chain)  # the feed really had none
    assert out.status == "entered", out.reason
    trade = store.trades(status="open")[0]
    condor = condor_of(trade)
    decision = store.decisions()[0]
    ctx = decision.context
    assert decision.action == "ENTER" and ctx["strikes"]  # candidates got local deltas
    assert all(0 < abs(s["delta"]) < 0.5 for s in ctx["strikes"])
    assert condor.long_put_strike < condor.short_put_strike < ctx["spot"] < condor.short_call_strike < condor.long_call_strike
    assert decision.context["iv"] and 0.03 < decision.context["iv"] < 3  # ATM IV implied from mids
    assert [e.payload["date"] for e in store.events(kind=ATM_IV_EVENT)] == ["2026-11-18"]

    _, ref_store, ref = await _decide(make_sim, build, tmp_path, "ref", 0.0)
    assert ref.status == "entered", ref.reason
    ref_condor = condor_of(ref_store.trades(status="open")[0])
    assert ref_condor.expiration == condor.expiration
    assert abs(ref_condor.short_call_strike - condor.short_call_strike) <= 1
    assert abs(ref_condor.short_put_strike - condor.short_put_strike) <= 1
    store.close()
    ref_store.close()
