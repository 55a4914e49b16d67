"""Benchmark: concurrent consensus vs. the article's sequential loop, through litellm.

``measure_consensus(url)`` points ``n_agents`` scripted-slow agents (each answering after
``delay_s``) of the sim at ``url`` and measures (a) the consensus runner's wall time divided by the
slowest agent's time (target <= 1.10) and (b) the sequential loop
``votes = [agent.analyze(m) for agent in agents]`` of the original article (about ``n_agents``x).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Literal

from stockbot.consensus.context import MarketContext, StrikeCandidate
from stockbot.consensus.llm import LLMAgent
from stockbot.consensus.runner import ConsensusRunner
from stockbot.consensus.schema import ParamBounds


def bench_context() -> MarketContext:
    """A fixed, quiet-market condor context (the scripted analyst votes ENTER on it)."""
    closes = tuple(500.0 + (i % 5) * 0.8 for i in range(40))
    rows: tuple[tuple[Literal["call", "put"], float, float], ...] = (
        ("put", 475.0, -0.12), ("put", 480.0, -0.16), ("put", 485.0, -0.21),
        ("call", 515.0, 0.21), ("call", 520.0, 0.16), ("call", 525.0, 0.12))
    strikes = tuple(StrikeCandidate(right=r, strike=k, delta=d, dte=35) for r, k, d in rows)
    return MarketContext(strategy="condor", symbol="SPY", spot=501.0, iv_rank=55.0, iv=0.17,
                         dte_candidates=(28, 35, 42), strikes=strikes, recent_closes=closes)


async def measure_consensus(url: str, n_agents: int = 3, delay_s: float = 1.0, runs: int = 5) -> dict[str, Any]:
    """Measure concurrent vs. sequential voting against the sim at ``url`` (its base URL).

    Each run times the sequential loop (which also gives each agent's time alone) and then one
    concurrent consensus. Returns medians and every run: ``ratio`` = concurrent wall / slowest
    agent alone (target <= 1.10); ``sequential_ratio`` = sequential wall / slowest agent alone
    (about ``n_agents``); ``ratio_vs_delay`` = concurrent wall / the scripted delay.
    """
    bounds = ParamBounds()
    model = f"openai/scripted-slow-{delay_s:g}"
    agents = [LLMAgent(f"slow{i}", model, bounds, api_base=url.rstrip("/") + "/v1", api_key="sim-not-a-key",
                       timeout_s=delay_s * 3 + 5) for i in range(n_agents)]
    runner = ConsensusRunner(agents, deadline_s=delay_s * 3 + 10, bounds=bounds,
                             allow_fewer_than_three=n_agents < 3)
    ctx = bench_context()
    warm = await runner.decide(ctx)  # first call: connection setup, litellm's lazy initialisation
    concurrent: list[dict[str, Any]] = []
    sequential: list[dict[str, Any]] = []
    for _ in range(runs):
        t0 = time.monotonic()
        solo = []
        for agent in agents:  # the article's loop: one agent after the other
            a0 = time.monotonic()
            await agent.vote(ctx)
            solo.append(time.monotonic() - a0)
        wall = time.monotonic() - t0
        sequential.append({"wall_s": wall, "slowest_agent_s": max(solo), "ratio": wall / max(solo)})
        res = await runner.decide(ctx)
        # The slowest agent's time is its time alone (from the sequential loop), so that any
        # serialisation inside the concurrent run shows up in the ratio instead of hiding in it.
        concurrent.append({"wall_s": res.wall_s, "slowest_agent_s": max(solo), "ratio": res.wall_s / max(solo),
                           "slowest_in_run_s": max(b.latency_s for b in res.ballots), "action": res.action.value})

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return round(float(statistics.median(r[key] for r in rows)), 4)

    return {
        "n_agents": n_agents, "delay_s": delay_s, "runs": runs, "model": model,
        "warmup_wall_s": round(warm.wall_s, 4),
        "concurrent_wall_s": med(concurrent, "wall_s"),
        "slowest_agent_s": med(concurrent, "slowest_agent_s"),
        "ratio": med(concurrent, "ratio"),
        "ratio_max": round(max(r["ratio"] for r in concurrent), 4),
        "ratio_vs_delay": round(med(concurrent, "wall_s") / delay_s, 4),
        "sequential_wall_s": med(sequential, "wall_s"),
        "sequential_ratio": med(sequential, "ratio"),
        "speedup": round(med(sequential, "wall_s") / med(concurrent, "wall_s"), 3),
        "target_ratio": 1.10,
        "meets_target": med(concurrent, "ratio") <= 1.10,
        "concurrent_runs": concurrent,
        "sequential_runs": sequential,
    }
