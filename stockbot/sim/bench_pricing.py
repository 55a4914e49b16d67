"""Cost of pricing an option chain on the local exchange (``python -m stockbot.sim.bench_pricing``).

A chain snapshot is what ``/v1beta1/options/snapshots/{underlying}`` computes for every contract it
serves: quote, greeks and IV (``OptionBook.snapshot_of``). Measured on a frozen sim clock at a
session's midday, for SPY's contracts 30-45 DTE (what the daemon fetches) and 7-60 DTE (every
strike), first at a new instant (nothing cached) and again at the same instant.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

from stockbot.sim.clock import SimClock
from stockbot.sim.market import Market

START = datetime(2026, 11, 18, 17, 0, tzinfo=timezone.utc)  # a Wednesday, 12:00 New York


def _chain(market: Market, now: datetime, dte_min: int, dte_max: int) -> list:
    today = now.date()
    return [c for c in market.options.contracts("SPY", now)
            if dte_min <= (c.expiration - today).days <= dte_max]


def measure(runs: int = 5) -> dict:
    """Milliseconds per chain snapshot (median of ``runs`` instants a minute apart)."""
    out: dict = {}
    for name, lo, hi in (("30_45_dte", 30, 45), ("7_60_dte", 7, 60)):
        cold, warm, n = [], [], 0
        for i in range(runs):
            now = START + timedelta(minutes=i)
            market = Market(SimClock(frozen_at=now), seed=0)
            chain = _chain(market, now, lo, hi)
            n = len(chain)
            book = market.options
            for bucket in (cold, warm):
                t0 = time.perf_counter()
                for c in chain:
                    book.snapshot_of(c, now)
                bucket.append((time.perf_counter() - t0) * 1000.0)
        out[name] = {"contracts": n, "cold_ms": round(statistics.median(cold), 1),
                     "warm_ms": round(statistics.median(warm), 1),
                     "us_per_contract_cold": round(statistics.median(cold) * 1000.0 / max(n, 1), 1)}
    return out


if __name__ == "__main__":
    json.dump(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5), sys.stdout, indent=2)
    print()
