"""Broker requests per condor decision (``make bench`` section ``requests``).

Alpaca allows 200 requests per minute per account and every page of an option chain is one. This
measures, against the local exchange with the shipped defaults, the requests one decision sends:
the snapshot as the engine takes it (the DTE window and a strike window around spot) beside the
chain as it used to be fetched (every strike, 7-60 DTE), and a whole decision that enters through
the price walk (polls included), by endpoint.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

KEY, SECRET = "BENCHKEY_REQ", "BENCHSECRET_REQ"
AT = datetime(2026, 11, 16, 15, 45, tzinfo=timezone.utc)  # a Monday, 10:45 New York


def _by_endpoint(entries: list[dict[str, Any]]) -> dict[str, int]:
    def name(e: dict[str, Any]) -> str:
        path = e["path"]
        if path.startswith("/v2/orders/") and path != "/v2/orders:by_client_order_id":
            path = "/v2/orders/{id}"
        return f"{e['method']} {path}"

    return dict(sorted(Counter(name(e) for e in entries).items()))


async def _measure() -> dict[str, Any]:
    from pydantic import SecretStr

    from stockbot.broker.alpaca import AlpacaBroker
    from stockbot.trading.executor import OrderExecutor
    from stockbot.config import AlpacaSettings, Settings
    from stockbot.consensus.runner import ConsensusRunner
    from stockbot.strategies.condor.engine import CondorEngine
    from stockbot.strategies.condor.snapshot import take_snapshot
    from stockbot.risk.gate import RiskGate
    from stockbot.sim.accounts import AccountSpec
    from stockbot.sim.app import SimServer
    from stockbot.store import Store

    sim = SimServer(seed=3, start_at=AT, accounts=[AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal("100000"))])
    await sim.start()
    try:
        settings = Settings(account="bench", alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET),
                                                                   base_url=sim.url))
        c = settings.condor
        broker = AlpacaBroker(settings.alpaca)
        log = sim.state.requests
        log.clear()
        snap = await take_snapshot(broker, settings, datetime.now(timezone.utc))
        snapshot_requests = _by_endpoint(log.query(key_id=KEY))
        log.clear()
        today = snap.market_date
        old = await broker.option_chain(c.underlying, expiration_gte=today + timedelta(days=c.dte_bounds[0]),
                                        expiration_lte=today + timedelta(days=c.dte_bounds[1]))
        old_requests = len(log.query(key_id=KEY))
        log.clear()
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "bench.db")  # a throwaway store outside every account
            engine = CondorEngine("bench", settings, broker, store, OrderExecutor(broker, store),
                                  RiskGate(settings.risk), ConsensusRunner.from_settings(settings, store=store))
            out = await engine.decide()
            store.close()
        decision = log.query(key_id=KEY)
        return {
            "snapshot_requests": sum(snapshot_requests.values()), "snapshot_by_endpoint": snapshot_requests,
            "chain_contracts": len(snap.chain), "chain_pages": snapshot_requests.get("GET /v1beta1/options/snapshots/SPY", 0),
            "old_chain_contracts_7_60_dte_all_strikes": len(old), "old_chain_pages": old_requests,
            "decision_status": out.status, "decision_rungs": len(out.attempts),
            "decision_requests": len(decision), "decision_by_endpoint": _by_endpoint(decision),
            "method": "stockbot sim with the shipped defaults (CONDOR_DTE 30-45, touch fills, 1 s polls, 20 s rungs); "
                      "requests counted in the sim's request log for this account's key",
        }
    finally:
        await sim.stop()


def measure_requests() -> dict[str, Any]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    json.dump(measure_requests(), sys.stdout, indent=2, default=str)
