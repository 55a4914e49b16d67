"""The memory breakdown of `make bench` measures every layer in a fresh interpreter."""

from __future__ import annotations

from stockbot.chaos.daemonbench import BREAKDOWN_STEPS, memory_breakdown


def test_each_layer_the_daemon_loads_is_measured_in_order():
    rows = memory_breakdown()
    assert [r["step"] for r in rows] == [name for name, _ in BREAKDOWN_STEPS]
    assert rows[0]["rss_mb"] < 50  # a fresh interpreter: nothing this test process loaded
    totals = [r["rss_mb"] for r in rows]
    assert all(b >= a - 5 for a, b in zip(totals, totals[1:]))  # imports only add (a few MB of GC slack)
    by_step = {r["step"]: r for r in rows}
    # the embedder really is loaded there, not already resident (ONNX Runtime's library + the mapped weights)
    assert by_step["all-MiniLM-L6-v2 on ONNX (weights mapped) + first encode"]["added_mb"] > 20
    assert all("torch" not in name for name in by_step)  # the daemon's layers: no torch among them
