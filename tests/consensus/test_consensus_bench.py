"""The benchmark hook runs end to end (numbers are for scripts/bench.py, not asserted here)."""

from __future__ import annotations

from stockbot.consensus.bench import measure_consensus


async def test_measure_consensus_shape(agent_server):
    r = await measure_consensus(agent_server.url, n_agents=3, delay_s=0.05, runs=2)
    assert r["n_agents"] == 3 and r["runs"] == 2 and len(r["concurrent_runs"]) == 2
    assert all(run["action"] == "ENTER" for run in r["concurrent_runs"])
    for key in ("ratio", "sequential_ratio", "concurrent_wall_s", "sequential_wall_s", "slowest_agent_s", "speedup"):
        assert r[key] > 0
    assert len(agent_server.state.requests) == 3 * (1 + 2 * 2)  # warm-up + (sequential + concurrent) per run
