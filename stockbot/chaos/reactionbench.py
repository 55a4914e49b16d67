"""Reaction time of the stream-triggered management (``make bench`` section ``reaction``).

The real daemon (shipped settings: CONDOR_MANAGE_TRIGGER_PCT 1 %, debounce 60 s, the manage interval
far away) runs against the local exchange with a moving clock and touch fills. An open condor is
planted with its short put at the listed strike just below spot and a small entry credit, so the
first streamed SPY quote is near a short strike and the pass it triggers finds the stop loss hit.
Measured per run, on the host's wall clock: quote stamp -> trigger (stream delivery and the
check), trigger -> the closing mleg POST (the management pass: option quotes, risk gate, order),
and quote -> POST (the whole reaction). Each run is a fresh exchange and a fresh account.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

KEY, SECRET = "BENCHKEY_REACT", "BENCHSECRET_REACT"
ACCOUNT = "react"
UNDERLYING = "SPY"


async def plant_condor_near_spot(sim_url: str, key: str, secret: str, account: str, *, credit: Decimal,
                                 structure_id: str) -> dict[str, Any]:
    """Record an open condor in ``account``'s store and hold its four legs at the sim: the short
    put at the nearest listed strike at or below spot (so spot is well within 1 % of it), the
    call side 10+ points above. Returns the legs, spot and short put strike."""
    from pydantic import SecretStr

    from stockbot.broker.alpaca import AlpacaBroker
    from stockbot.config import AlpacaSettings
    from stockbot.domain import OptionRight
    from stockbot.options.condor import IronCondor, condor_from_symbols
    from stockbot.store import Store
    from stockbot.strategies.condor.trades import record_open

    broker = AlpacaBroker(AlpacaSettings(api_key=SecretStr(key), secret_key=SecretStr(secret), base_url=sim_url))
    spot = (await broker.latest_quotes([UNDERLYING]))[UNDERLYING].mid
    now = (await broker.clock()).ts  # the exchange's time, not this host's
    today = now.date()
    contracts = await broker.option_contracts(UNDERLYING, expiration_gte=today + timedelta(days=20),
                                              expiration_lte=today + timedelta(days=45))
    expiration = min(c.expiration for c in contracts)
    strikes = {(c.right, c.strike): c.symbol for c in contracts if c.expiration == expiration}
    puts = sorted(k for r, k in strikes if r is OptionRight.PUT)
    calls = sorted(k for r, k in strikes if r is OptionRight.CALL)
    short_put = max(k for k in puts if k <= spot)
    long_put = max(k for k in puts if k <= short_put - 5)
    short_call = min(k for k in calls if k >= spot + 10)
    long_call = min(k for k in calls if k >= short_call + 5)
    legs = [strikes[(OptionRight.PUT, long_put)], strikes[(OptionRight.PUT, short_put)],
            strikes[(OptionRight.CALL, short_call)], strikes[(OptionRight.CALL, long_call)]]
    condor = condor_from_symbols(legs, credit)
    assert isinstance(condor, IronCondor), condor
    store = Store.for_account(account)
    try:
        record_open(store, structure_id=structure_id, condor=condor, qty=Decimal(1), credit=credit,
                    client_order_id=f"{structure_id}-open", opened=now)
    finally:
        store.close()
    import httpx

    async with httpx.AsyncClient(base_url=sim_url) as client:
        for symbol, qty in zip(legs, (1, -1, -1, 1)):
            planted = await client.post("/_sim/positions", json={"key_id": key, "symbol": symbol, "qty": qty})
            planted.raise_for_status()
    return {"legs": legs, "spot": spot, "short_put": short_put}


async def _one_run(seed: int) -> dict[str, float]:
    from pydantic import SecretStr

    from stockbot.config import AgentSettings, AgentSpec, AlpacaSettings, Settings
    from stockbot.daemon import Daemon
    from stockbot.daemon.timings import Timings
    from stockbot.sim.accounts import AccountSpec
    from stockbot.sim.app import SimServer

    sim = SimServer(seed=seed, always_open=True, accounts=[AccountSpec(key_id=KEY, secret=SECRET,
                                                                       equity=Decimal("100000"))])
    await sim.start()
    daemon = None
    try:
        account = f"{ACCOUNT}{seed}"
        await plant_condor_near_spot(sim.url, KEY, SECRET, account, credit=Decimal("0.30"), structure_id="react-1")
        agents = tuple(AgentSpec(name=f"agent{i}", kind="llm", model="openai/scripted-hold", api_base=f"{sim.url}/v1",
                                 api_key=SecretStr("sk-sim")) for i in range(3))
        settings = Settings(account=account, agents=AgentSettings(agents=agents),
                            alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET),
                                                  base_url=sim.url))
        timings = Timings.from_settings(settings.schedule, decision_cron=None, eod_cron=None,
                                        manage_every_s=3600, reconcile_every_s=3600)
        daemon = Daemon(settings, timings=timings)
        await daemon.start()
        for _ in range(1200):
            posts = sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)
            triggered = daemon.store.events(kind="manage_triggered") if daemon.store else []
            if posts and triggered:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("no closing order within 60 s")
        trig = triggered[0]
        quote_ts = datetime.fromisoformat(trig.payload["quote_ts"]).timestamp()
        trigger_ts = trig.ts.timestamp()
        post_ts = datetime.fromisoformat(posts[0]["ts"]).timestamp()  # the wall time the sim received it
        assert posts[0]["body"]["order_class"] == "mleg", posts[0]["body"]
        for _ in range(1200):  # let the close finish before the stop (it would wait for it anyway)
            if daemon.store is not None and daemon.store.events(kind="manage_cycle"):
                break
            await asyncio.sleep(0.05)
        return {"quote_to_trigger_ms": (trigger_ts - quote_ts) * 1000,
                "trigger_to_order_ms": (post_ts - trigger_ts) * 1000, "quote_to_order_ms": (post_ts - quote_ts) * 1000}
    finally:
        if daemon is not None:
            await daemon.stop()
        await sim.stop()


def measure_reaction(runs: int = 5) -> dict[str, Any]:
    """``runs`` fresh daemons; p50 and max of each interval in milliseconds."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STOCKBOT_MEMORY_ROOT"] = tmp  # never the checkout's memory/
        os.environ.setdefault("STOCKBOT_ENV_DIR", tmp)
        began = time.monotonic()
        results = [asyncio.run(_one_run(seed)) for seed in range(1, runs + 1)]
    out: dict[str, Any] = {}
    for key in results[0]:
        xs = [r[key] for r in results]
        out[key] = {"p50": round(statistics.median(xs), 1), "max": round(max(xs), 1)}
    out.update(runs=runs, wall_s=round(time.monotonic() - began, 1),
               method="real daemon, shipped settings (trigger 1 %, debounce 60 s, touch fills), a planted condor "
                      "with spot near its short put and the stop hit; wall clock of one host; the closing POST "
                      "as the sim's request log saw it")
    return out


if __name__ == "__main__":
    json.dump(measure_reaction(int(sys.argv[1]) if len(sys.argv) > 1 else 5), sys.stdout, indent=2, default=str)
