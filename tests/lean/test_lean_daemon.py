"""A lean daemon: a real ``stockbot run`` on the sim embeds with ONNX Runtime and never loads torch;
a small fleet on one host keeps every account's writes inside its own directory.

Both run real processes (``stockbot sim``, the daemons) on loopback; figures (RSS, READY time,
idle CPU) are the fleet benchmark's (``scripts/bench_fleet.py``), never asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockbot.chaos.fleetbench import measure_fleet
from stockbot.chaos.rig import ROOT, NotifySocket, SimProcess, Workspace

HEAVY = ("libtorch", "/torch/", "/sentence_transformers/", "/transformers/", "/sklearn/", "/scipy/")


def _mapped_files(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps", encoding="utf-8") as fh:
        return {line.split()[-1] for line in fh if len(line.split()) >= 6}


@pytest.mark.slow
def test_a_running_daemon_has_onnxruntime_and_no_torch_mapped(tmp_path):
    sim = SimProcess(tmp_path, extra=("--rate-limit", "100000"))
    notify = NotifySocket(Path(f"/tmp/sblean-{os.getpid()}.sock"))
    proc = None
    try:
        ws = Workspace(tmp_path / "host", account="lean")
        ws.write_env(sim.url)
        env = {**ws.environ(), "NOTIFY_SOCKET": str(notify.path)}
        with open(tmp_path / "daemon.log", "w", encoding="utf-8") as log:
            proc = subprocess.Popen([sys.executable, "-m", "stockbot.cli", "run", "--account", "lean"], cwd=ROOT,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        ready = notify.first("READY=1", 180)
        assert ready is not None, (tmp_path / "daemon.log").read_text()[-3000:]
        mapped = _mapped_files(proc.pid)
        # the lesson index was built from the seeds at start-up, so the embedder is loaded ...
        assert any("onnxruntime" in path for path in mapped)
        assert any(path.endswith("model.onnx.data") for path in mapped)  # weights mapped, not copied
        # ... and nothing of the torch stack is in the process (their extension modules would be mapped)
        assert not [path for path in mapped if any(h in path for h in HEAVY)]
    finally:
        if proc is not None:
            proc.terminate()
            assert proc.wait(60) == 0
        notify.close()
        sim.stop()


@pytest.mark.slow
def test_three_accounts_on_one_host_trade_and_stay_isolated():
    out = measure_fleet(3, idle_s=2.0)
    assert out["ready"] == 3, out["ready_s"]
    assert out["traded"] == 3, out["filled_orders"]
    iso = out["isolation"]
    assert iso["ok"], iso
    assert iso["changed_outside_account_dirs"] == [] and iso["changed_in_home"] == []
    assert all(n > 0 for n in iso["paths_written_per_account"].values())
    assert out["exit_codes"] == [0]
