"""Benchmark: how soon the daemon hears of a fill through the trade-update stream.

A local sim (thread) and the daemon's own ``TradeUpdateFeed`` (alpaca-py's TradingStream in its
thread, events handed to an asyncio loop). Two figures, each over ``--n`` orders:

- ``market``: from the start of a market order's POST to its ``fill`` event on the consumer's loop;
- ``resting``: a resting limit order is released (``fill_chance`` 0 -> 1 and one sim tick); from
  that release to its ``fill`` event. Polling would notice it after half the ladder's poll interval
  on average (``CONDOR_POLL_INTERVAL_S``, 1 s by default) and the reconciler after up to 5 minutes.

    .venv/bin/python scripts/bench_trade_updates.py --n 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from pydantic import SecretStr

from stockbot.broker.trade_stream import TradeUpdateFeed
from stockbot.config import AlpacaSettings
from stockbot.sim.accounts import DEMO_KEY_ID, DEMO_SECRET
from stockbot.sim.app import run_in_thread


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


async def measure(n: int) -> dict:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

    with run_in_thread(seed=1, always_open=True) as sim:
        settings = AlpacaSettings(api_key=SecretStr(DEMO_KEY_ID), secret_key=SecretStr(DEMO_SECRET), base_url=sim.url)
        fills: dict[str, float] = {}
        got = asyncio.Event()

        def on_update(u) -> None:
            if u.event == "fill":
                fills[u.order.id] = time.perf_counter()
                got.set()

        feed = TradeUpdateFeed(settings, asyncio.get_running_loop(), on_update)
        feed.start()
        while sim.call(sim.state.exchange.trade_updates.connections, DEMO_KEY_ID) < 1:
            await asyncio.sleep(0.01)
        client = TradingClient(DEMO_KEY_ID, DEMO_SECRET, paper=True, url_override=sim.url)

        async def until(order_id: str) -> float:
            while order_id not in fills:
                got.clear()
                await asyncio.wait_for(got.wait(), 10)
            return fills[order_id]

        market = []
        for _ in range(n):
            t0 = time.perf_counter()
            order = await asyncio.to_thread(client.submit_order, MarketOrderRequest(
                symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
            market.append((await until(str(order.id))) - t0)
        resting = []
        for _ in range(n):
            sim.admin("POST", "/_sim/settings", {"fill_chance": 0})
            ask = sim.call(sim.state.market.quote, "SPY").ask
            order = await asyncio.to_thread(client.submit_order, LimitOrderRequest(
                symbol="SPY", qty=1, side=OrderSide.SELL, limit_price=float(ask) * 0.9, time_in_force=TimeInForce.DAY))
            t0 = time.perf_counter()
            await asyncio.to_thread(sim.admin, "POST", "/_sim/settings", {"fill_chance": 1})
            await asyncio.to_thread(sim.admin, "POST", "/_sim/tick")
            resting.append((await until(str(order.id))) - t0)
        await asyncio.to_thread(feed.stop)
    ms = lambda xs: {"median_ms": round(statistics.median(xs) * 1000, 2), "p95_ms": round(pct(xs, 0.95) * 1000, 2),
                     "max_ms": round(max(xs) * 1000, 2)}
    return {"n": n, "market_post_to_fill_event": ms(market), "resting_release_to_fill_event": ms(resting)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50)
    print(json.dumps(asyncio.run(measure(p.parse_args().n)), indent=2))


if __name__ == "__main__":
    main()
