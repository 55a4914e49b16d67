#!/usr/bin/env python3
"""stockbot benchmarks: one command, a table on stdout, JSON on disk.

    make bench                       # every section
    .venv/bin/python scripts/bench.py --only orders,stream --runs 5

Every figure is a median over several runs, printed with its method and the machine it ran on.
The local exchange runs in its own process (``stockbot sim``) so that its CPU time is not charged
to the client being measured. Nothing here touches the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DEMO_KEY, DEMO_SECRET = "SIMKEY_DEMO", "SIMSECRET_DEMO"


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


@contextmanager
def sim_process(*args: str) -> Iterator[str]:
    """Start ``stockbot sim`` in a child process; yields its base URL; stops it afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "stockbot.cli", "sim", "--port", "0", "--always-open", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        raise RuntimeError("stockbot sim did not print its URL")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# ---------------------------------------------------------------------------- orders


def bench_orders(runs: int, n: int = 100) -> dict[str, Any]:
    """Decision-to-acknowledged order latency: bare alpaca-py vs our adapter (store + executor)."""
    import tempfile

    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest
    from pydantic import SecretStr

    from stockbot.broker.alpaca import AlpacaBroker
    from stockbot.trading.executor import OrderExecutor
    from stockbot.config import AlpacaSettings
    from stockbot.domain import OrderIntent, Side
    from stockbot.store import Store

    bare_ms: list[float] = []
    ours_ms: list[float] = []
    sim_ms: list[float] = []
    with sim_process() as url:
        _post(f"{url}/_sim/settings", {"rate_limit_per_min": 1_000_000})  # measure latency, not the limit
        client = TradingClient(DEMO_KEY, DEMO_SECRET, paper=True, url_override=url)
        settings = AlpacaSettings(api_key=SecretStr(DEMO_KEY), secret_key=SecretStr(DEMO_SECRET), base_url=url,
                                  requests_per_minute=200)
        for run in range(runs):
            t = []
            for i in range(n):
                req = MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY if i % 2 == 0 else OrderSide.SELL,
                                         time_in_force=TimeInForce.DAY, client_order_id=f"bare-{run}-{i}")
                t0 = time.perf_counter()
                client.submit_order(req)
                t.append((time.perf_counter() - t0) * 1000)
            bare_ms.append(median(t))

            async def ours() -> float:
                broker = AlpacaBroker(settings)
                broker.budget.per_minute = 10**9  # measure the path, not the throttle
                with tempfile.TemporaryDirectory() as d:
                    ex = OrderExecutor(broker, Store(Path(d) / "b.db"))
                    t = []
                    for i in range(n):
                        intent = OrderIntent(client_order_id=f"ours-{run}-{i}", qty=Decimal(1), symbol="SPY",
                                             side=Side.BUY if i % 2 == 0 else Side.SELL, purpose="bench")
                        t0 = time.perf_counter()
                        await ex.submit(intent)
                        t.append((time.perf_counter() - t0) * 1000)
                    return median(t)

            ours_ms.append(asyncio.run(ours()))
            with urlopen_json(f"{url}/_sim/requests?method=POST&path=/v2/orders") as entries:
                durs = [e.get("duration_ms") for e in entries[-2 * n:] if e.get("duration_ms") is not None]
                sim_ms.append(median(durs))
    with tempfile.TemporaryDirectory() as d:  # the durable bookkeeping alone (two fsynced commits)
        store = Store(Path(d) / "w.db")
        t = []
        for i in range(n):
            t0 = time.perf_counter()
            store.record_order_intent(OrderIntent(client_order_id=f"w-{i}", qty=Decimal(1), symbol="SPY",
                                                  side=Side.BUY))
            store.update_order(f"w-{i}", status="filled", broker_id="x", filled_qty=Decimal(1))
            t.append((time.perf_counter() - t0) * 1000)
        store_ms = median(t)
    b, o, s = median(bare_ms), median(ours_ms), median(sim_ms)
    return {
        "bare_alpaca_py_ms": round(b, 3), "stockbot_adapter_ms": round(o, 3), "sim_server_ms": round(s, 3),
        "adapter_overhead_ms": round(o - b, 3), "of_which_store_fsync_ms": round(store_ms, 3),
        "client_and_transport_ms": round(b - s, 3),
        "method": f"{n} market orders x {runs} runs against `stockbot sim` in its own process; median per order. "
                  "bare = TradingClient.submit_order; adapter = OrderExecutor.submit (SQLite intent write with "
                  "fsync before the POST, worker thread, update after); sim = server-side handling time.",
    }


@contextmanager
def urlopen_json(url: str) -> Iterator[Any]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as resp:  # loopback only
        data = json.loads(resp.read())
    yield data.get("requests", data) if isinstance(data, dict) else data


# ---------------------------------------------------------------------------- stream


def _post(url: str, body: dict) -> None:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def _count_bare(url: str, seconds: float, raw: bool) -> float:
    from alpaca.data.live.stock import StockDataStream

    count = [0]

    async def handler(_q: Any) -> None:
        count[0] += 1

    stream = StockDataStream(DEMO_KEY, DEMO_SECRET, raw_data=raw, url_override=url.replace("http", "ws") + "/v2/iex")
    stream.subscribe_quotes(handler, "*")
    th = threading.Thread(target=stream.run, daemon=True)
    th.start()
    time.sleep(2.0)  # connect + warm up
    c0, t0 = count[0], time.perf_counter()
    time.sleep(seconds)
    rate = (count[0] - c0) / (time.perf_counter() - t0)
    stream.stop()
    th.join(5)
    return rate


def _count_ours(url: str, seconds: float) -> float:
    from pydantic import SecretStr

    from stockbot.broker.stream import FreshnessTracker, QuoteFeed
    from stockbot.config import AlpacaSettings

    settings = AlpacaSettings(api_key=SecretStr(DEMO_KEY), secret_key=SecretStr(DEMO_SECRET), base_url=url,
                              stream_url=url.replace("http", "ws") + "/v2/iex")

    async def main() -> float:
        tracker = FreshnessTracker()
        feed = QuoteFeed(settings, ["*"], asyncio.get_running_loop(), tracker.update)  # as the bare one
        feed.start()
        await asyncio.sleep(2.0)
        c0, t0 = feed.received, time.perf_counter()
        await asyncio.sleep(seconds)
        rate = (feed.received - c0) / (time.perf_counter() - t0)
        await asyncio.to_thread(feed.stop)
        return rate

    return asyncio.run(main())


def bench_stream(runs: int, seconds: float = 5.0, rate: float = 200000) -> dict[str, Any]:
    """Quotes/s delivered: bare StockDataStream (empty handler) vs the daemon's QuoteFeed."""
    bare_parsed: list[float] = []
    bare_raw: list[float] = []
    ours: list[float] = []
    with sim_process() as url:
        _post(f"{url}/_sim/stream", {"quote_rate": rate, "allow_multiple": True})
        for _ in range(runs):
            bare_parsed.append(_count_bare(url, seconds, raw=False))
            bare_raw.append(_count_bare(url, seconds, raw=True))
            ours.append(_count_ours(url, seconds))
    p, r, o = median(bare_parsed), median(bare_raw), median(ours)
    return {
        "bare_parsed_quotes_per_s": round(p), "bare_raw_quotes_per_s": round(r), "daemon_quotes_per_s": round(o),
        "ratio_vs_bare_parsed": round(o / p, 3) if p else None, "ratio_vs_bare_raw": round(o / r, 3) if r else None,
        "method": f"sim in its own process offering {rate:.0f} quotes/s; {seconds:.0f} s windows after 2 s warm-up, "
                  f"median of {runs}. bare = alpaca-py StockDataStream with an empty handler (parsed models and "
                  "raw dicts); daemon = QuoteFeed handing every quote to the daemon loop (one hop per batch) where the newest "
                  "per symbol becomes a Quote in the FreshnessTracker.",
    }


# ---------------------------------------------------------------------------- other sections


def bench_consensus(runs: int) -> dict[str, Any]:
    from stockbot.consensus.bench import measure_consensus

    with sim_process() as url:
        return asyncio.run(measure_consensus(url, n_agents=3, delay_s=1.0, runs=runs))


def bench_lessons(runs: int) -> dict[str, Any]:
    from stockbot.lessons.bench import measure_retrieval

    return measure_retrieval()


def bench_startup(runs: int) -> dict[str, Any]:
    """`stockbot run` from spawn to READY=1: a fresh account, then up to 3 warm restarts (each
    start costs ~10 s of the 10-minute budget of `make bench`; they vary by a few percent)."""
    from stockbot.chaos.daemonbench import measure_startup

    return measure_startup(min(runs, 3))


def bench_memory(runs: int) -> dict[str, Any]:
    """Resident memory of one daemon with the embedder loaded (target <= 300 MB while trading)."""
    from stockbot.chaos.daemonbench import measure_memory, memory_breakdown

    return {**measure_memory(trade_s=20.0), "breakdown": memory_breakdown()}


def bench_fleet(runs: int) -> dict[str, Any]:
    """Ten account daemons on one host against one sim: READY, trades, total RSS, idle CPU,
    isolation (also alone: scripts/bench_fleet.py)."""
    from stockbot.chaos.fleetbench import measure_fleet

    return measure_fleet(10)


def bench_screening(runs: int) -> dict[str, Any]:
    """Screening the full S&P 500 universe: features + prediction time and memory.

    In a fresh interpreter, so its peak RSS is the screener's and not the embedder's that the
    lessons section loaded into this process."""
    out = subprocess.run([sys.executable, "-m", "stockbot.strategies.equity.bench"], capture_output=True, text=True,
                         cwd=ROOT, timeout=300, check=True)
    return json.loads(out.stdout[out.stdout.index("{"):])


def bench_requests(runs: int) -> dict[str, Any]:
    """Broker requests of one condor decision with the shipped defaults (Alpaca allows 200/min)."""
    from stockbot.strategies.condor.bench import measure_requests

    return measure_requests()

def bench_reaction(runs: int) -> dict[str, Any]:
    """Stream-triggered management: quote near a short strike -> the closing mleg order (ms)."""
    out = subprocess.run([sys.executable, "-m", "stockbot.chaos.reactionbench", str(max(runs, 3))],
                         capture_output=True, text=True, cwd=ROOT, timeout=900, check=True)
    return json.loads(out.stdout[out.stdout.index("{"):])


def bench_sim_pricing(runs: int) -> dict[str, Any]:
    """The sim's cost per SPY chain snapshot (American prices, greeks and IV), cold and cached."""
    from stockbot.sim.bench_pricing import measure

    return measure(runs)


def bench_local_llm(runs: int) -> dict[str, Any]:
    """A real local model (extra `llm`): valid-vote share with/without the schema, s/vote, cost/decision."""
    from stockbot.llm_server import local_model_available

    if not local_model_available():
        return {"skipped": "extra `llm` not installed"}
    out = subprocess.run([sys.executable, "-m", "stockbot.consensus.local_bench"], capture_output=True, text=True,
                         cwd=ROOT, timeout=900, check=True)
    return json.loads(out.stdout[out.stdout.index("{"):])


SECTIONS: dict[str, Callable[[int], dict[str, Any]]] = {
    "orders": bench_orders,
    "stream": bench_stream,
    "consensus": bench_consensus,
    "lessons": bench_lessons,
    "startup": bench_startup,
    "memory": bench_memory,
    "fleet": bench_fleet,
    "screening": bench_screening,
    "requests": bench_requests,
    "reaction": bench_reaction,
    "local_llm": bench_local_llm,
    "sim_pricing": bench_sim_pricing,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ", ".join(SECTIONS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "latest.json"))
    args = ap.parse_args(argv)
    from stockbot import log as slog

    slog.configure(None, level="WARNING")  # the measured code logs every decision: keep the table readable
    results: dict[str, Any] = {"machine": machine(), "when": datetime.now(timezone.utc).isoformat(), "runs": args.runs}
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        t0 = time.perf_counter()
        try:
            results[name] = SECTIONS[name](args.runs)
        except Exception as exc:  # report and go on: one broken section must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["section_wall_s"] = round(time.perf_counter() - t0, 1)
        print(f"\n== {name}")
        for k, v in results[name].items():
            print(f"  {k:<28} {v}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nJSON written to {out}")
    return 0 if not any(isinstance(v, dict) and "error" in v for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
