"""Benchmarks of the daemon as a process (``scripts/bench.py`` sections ``startup`` and ``memory``).

* ``measure_startup``: ``stockbot run --account bench`` (the production command) against the sim in
  its own process, timed from the spawn to systemd's ``READY=1`` on a local ``NOTIFY_SOCKET``;
  the first start of a fresh account (state database created, lesson index built) and warm
  restarts, with the steps from the daemon's own events (imports and settings, lessons with the
  embedder, services and start-up reconciliation).
* ``measure_memory``: resident memory (``VmRSS``/``VmHWM`` from ``/proc``) of one daemon with the
  embedder loaded: ``stockbot run`` idle after READY, and the demo-speed daemon
  (``stockbot.chaos.child``) entering condors every two seconds.
* ``memory_breakdown``: what each layer the daemon loads (litellm, alpaca-py, Qdrant, ONNX
  Runtime, the model, a cold start's indexing) adds to a fresh interpreter.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from stockbot.chaos.rig import ROOT, DaemonChild, NotifySocket, SimProcess, Workspace
from stockbot.store import Store

STEPS = ("daemon_start", "lessons_loaded", "startup_reconciled", "daemon_ready")


def _rss_mb(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return out


def _start_run(ws: Workspace, notify: NotifySocket, log: Path) -> tuple[subprocess.Popen, float, float]:
    """Spawn ``stockbot run``; returns (process, wall-clock spawn time, monotonic spawn time)."""
    env = {**ws.environ(), "NOTIFY_SOCKET": str(notify.path)}
    with open(log, "a", encoding="utf-8") as fh:
        wall, mono = time.time(), time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "stockbot.cli", "run", "--account", ws.account], cwd=ROOT,
                                env=env, stdout=fh, stderr=subprocess.STDOUT)
    return proc, wall, mono


def _stop(proc: subprocess.Popen) -> int:
    proc.terminate()
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _steps(db: Path, since_seq: int, spawn_wall: float) -> tuple[dict[str, float], int]:
    """Seconds from the spawn to each start-up event of the life that began after ``since_seq``."""
    with Store(db, readonly=True) as store:
        events = store.events(since=since_seq)
    out: dict[str, float] = {}
    for e in events:
        if e.kind in STEPS and e.kind not in out:
            out[e.kind] = round(e.ts.timestamp() - spawn_wall, 3)
    return out, (events[-1].seq if events else since_seq)


def measure_startup(runs: int = 5) -> dict[str, Any]:
    """Cold start (fresh account) and ``runs`` warm restarts, spawn -> READY=1 (seconds)."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        sim = SimProcess(work, extra=("--rate-limit", "100000"))
        notify = NotifySocket(Path(f"/tmp/stockbot-bench-{os.getpid()}.sock"))
        lives: list[dict[str, Any]] = []
        try:
            ws = Workspace(work / "account", account="bench")
            ws.write_env(sim.url)
            seq = 0
            for i in range(runs + 1):
                notify.received.clear()
                proc, wall, mono = _start_run(ws, notify, work / "daemon.log")
                try:
                    ready = notify.first("READY=1", 180)
                finally:
                    rc = _stop(proc)
                if ready is None:
                    raise RuntimeError(f"no READY=1 within 180 s (exit code {rc})")
                steps, seq = _steps(ws.state_db, seq, wall)
                lives.append({"cold": i == 0, "ready_s": round(ready - mono, 3), "exit_code": rc, **steps})
        finally:
            notify.close()
            sim.stop()
    warm = [life for life in lives if not life["cold"]]

    def med(key: str) -> float:
        return round(statistics.median(life[key] for life in warm if key in life), 2)

    return {
        "cold_ready_s": lives[0]["ready_s"], "warm_ready_s_median": med("ready_s"),
        "warm_ready_s_min": min(life["ready_s"] for life in warm),
        "warm_ready_s_max": max(life["ready_s"] for life in warm),
        "warm_steps_s_median": {"process_and_settings (daemon_start)": med("daemon_start"),
                                "lessons_and_embedder (lessons_loaded)": med("lessons_loaded"),
                                "services_and_reconciliation (startup_reconciled)": med("startup_reconciled"),
                                "ready (daemon_ready)": med("daemon_ready")},
        "exit_codes": sorted({life["exit_code"] for life in lives}),
        "lives": lives,
        "method": f"`stockbot run --account bench` against `stockbot sim` (own process), spawn -> READY=1 on a "
                  f"local NOTIFY_SOCKET; 1 cold start (new state.db, lesson index built from the 12 seeds) + "
                  f"{runs} warm restarts (SIGTERM between them); steps from the daemon's own event timestamps.",
    }


def measure_memory(trade_s: float = 30.0, samples_every_s: float = 0.5) -> dict[str, Any]:
    """RSS of one daemon with the embedder loaded: idle ``stockbot run``, then a trading one."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        sim = SimProcess(work, extra=("--rate-limit", "100000"))
        notify = NotifySocket(Path(f"/tmp/stockbot-bench-mem-{os.getpid()}.sock"))
        try:
            ws = Workspace(work / "account", account="bench")
            ws.write_env(sim.url)
            proc, _wall, _mono = _start_run(ws, notify, work / "daemon.log")
            try:
                if notify.first("READY=1", 180) is None:
                    raise RuntimeError("stockbot run: no READY=1 within 180 s")
                time.sleep(5.0)
                idle = _rss_mb(proc.pid)
            finally:
                _stop(proc)
            child = DaemonChild(ws, work / "daemon.log", decision_every=2.0)
            try:
                if child.wait_line(lambda line: line.endswith(" daemon_ready"), 180) is None:
                    raise RuntimeError("demo-speed daemon: no READY within 180 s")
                at_ready = _rss_mb(child.proc.pid)
                samples = []
                end = time.monotonic() + trade_s
                while time.monotonic() < end and child.alive():
                    samples.append(_rss_mb(child.proc.pid)["VmRSS"])
                    time.sleep(samples_every_s)
                last = _rss_mb(child.proc.pid)
                decisions = sum(1 for line in child.reports() if line.endswith(" decision_cycle"))
            finally:
                rc = child.terminate()
        finally:
            notify.close()
            sim.stop()
    peak = max(idle["VmHWM"], last["VmHWM"])
    return {
        "idle_rss_mb": idle["VmRSS"], "idle_rss_anon_mb": idle["RssAnon"], "idle_rss_file_mb": idle["RssFile"],
        "trading_rss_mb_at_ready": at_ready["VmRSS"],
        "trading_rss_mb_median": round(statistics.median(samples), 1) if samples else None,
        "trading_rss_mb_end": last["VmRSS"], "trading_rss_anon_mb_end": last["RssAnon"],
        "trading_rss_file_mb_end": last["RssFile"], "peak_rss_mb": peak, "target_mb": 300,
        "within_target": bool(samples) and statistics.median(samples) <= 300,
        "decision_cycles_while_sampled": decisions, "exit_code": rc, "when": datetime.now().isoformat(),
        "method": "VmRSS/VmHWM (RssAnon = private heap, RssFile = mapped libraries, shareable between "
                  "account processes) from /proc/<pid>/status of one daemon process (the embedder all-MiniLM-L6-v2 "
                  "is loaded at start-up for the lesson index): `stockbot run` idle 5 s after READY=1; then the "
                  f"demo-speed daemon (stockbot.chaos.child: a decision every 2 s, condor entries at the sim) "
                  f"sampled every {samples_every_s} s for {trade_s:.0f} s.",
    }


# What each layer the daemon loads adds to a fresh interpreter, in the order the daemon loads it.
BREAKDOWN_STEPS = (
    ("interpreter", ""),
    ("stockbot daemon modules", "import stockbot.daemon"),
    ("litellm (LLM agents, configured as the daemon does)",
     "from stockbot.consensus.llm import load_litellm; load_litellm()"),
    ("alpaca-py clients", "import alpaca.trading.client, alpaca.data.live, alpaca.data.historical.option"),
    ("qdrant-client", "import qdrant_client"),
    ("onnxruntime + tokenizers", "import onnxruntime, tokenizers"),
    ("all-MiniLM-L6-v2 on ONNX (weights mapped) + first encode",
     "from stockbot.lessons.embedder import get_embedder; get_embedder().encode_one('warm up', use_cache=False)"),
    ("indexing the 12 seed lessons (96 embeddings, a cold start)",
     "from stockbot.lessons.files import LessonStore; from stockbot.lessons.index import lesson_vectors; "
     "from stockbot import config; from pathlib import Path; lesson_vectors(get_embedder(), LessonStore(None, "
     "shared_dir=config.DEFAULT_MEMORY_ROOT / 'lessons', account_dir=Path('/nonexistent')).load().lessons)"),
)
_BREAKDOWN_CODE = """
import json, sys
steps = json.loads(sys.argv[1])
def rss():
    with open('/proc/self/status') as fh:
        d = {l.split(':')[0]: int(l.split()[1]) / 1024 for l in fh if l.startswith(('VmRSS', 'RssAnon', 'RssFile'))}
    return d
out = []
for name, code in steps:
    before = rss()
    exec(code)
    after = rss()
    out.append({'step': name, 'rss_mb': round(after['VmRSS'], 1),
                'added_mb': round(after['VmRSS'] - before['VmRSS'], 1),
                'added_anon_mb': round(after['RssAnon'] - before['RssAnon'], 1)})
out[0]['added_mb'] = out[0]['rss_mb']
print(json.dumps(out))
"""


def memory_breakdown() -> list[dict[str, Any]]:
    """Resident memory each layer adds, measured in a fresh interpreter (no embedder loaded yet)."""
    import json

    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "ORT_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, "-c", _BREAKDOWN_CODE, json.dumps(BREAKDOWN_STEPS)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])
