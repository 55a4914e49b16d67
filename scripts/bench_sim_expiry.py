#!/usr/bin/env python3
"""Cost of the sim's per-request option processing (``Exchange.process`` with a condor held).

    .venv/bin/python scripts/bench_sim_expiry.py     # prints min / median microseconds per call

Figures and context: BENCHMARKS.md, "The sim's option processing on every request".
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(reps: int = 5, calls: int = 2000) -> tuple[float, float]:
    from stockbot.sim.app import SimServer

    server = SimServer(seed=5, start_at=datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc), freeze=True)
    state = server.state
    account = next(iter(state.accounts))
    spot = state.market.price("SPY")
    chain = [k for k in state.market.option_contracts("SPY") if k.expiration.isoformat() == "2026-12-18"]

    def near(right: str, strike) -> str:
        return min((c for c in chain if c.right.value == right), key=lambda c: abs(c.strike - strike)).symbol

    for symbol, qty in ((near("call", spot + 20), -1), (near("call", spot + 25), 1),
                        (near("put", spot - 20), -1), (near("put", spot - 25), 1)):
        state.exchange.plant_position(account, symbol, Decimal(qty), Decimal(1))
    for _ in range(50):
        state.exchange.process(account)
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            state.exchange.process(account)
        runs.append((time.perf_counter() - t0) / calls * 1e6)
    runs.sort()
    print(f"Exchange.process with a 4-leg condor held, nothing due: min {runs[0]:.1f} µs, "
          f"median {runs[len(runs) // 2]:.1f} µs per call ({reps} x {calls} calls)")
    return runs[0], runs[len(runs) // 2]


if __name__ == "__main__":
    main()
