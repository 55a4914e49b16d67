"""Done-when scenario: a nasdaq100 and an sp500 account, at the same time, against separate sim
accounts: train, screen, vote, place a long/short slate, rebalance a week later (closes through
close_position()), write advisor picks (one e-mailed), grade them — and prove that

- no symbol outside an account's universe is ever screened, voted on or ordered, even when two
  agents push a foreign symbol and an unproposed one;
- neither account wrote anything outside its own memory directory (an audit hook attributes every
  file write and database open to the account whose task made it).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.trading.executor import OrderExecutor
from stockbot.config import (AgentSettings, AgentSpec, AlertSettings, AlpacaSettings, EquitySettings, RiskSettings,
                             Settings, memory_dir, memory_root)
from stockbot.consensus.agents import build_agents
from stockbot.consensus.runner import ConsensusRunner
from stockbot.consensus.schema import EquityParams, SlatePick, Vote
from stockbot.trading.ladder import LadderTiming
from stockbot.trading.reconcile import plan as reconcile_plan, structures_from_trades
from stockbot.strategies.equity.context import bounds_for
from stockbot.strategies.equity.engine import EquityEngine
from stockbot.strategies.equity.grading import Grader
from stockbot.strategies.equity.history import NY
from stockbot.strategies.equity.picks import Advisor
from stockbot.strategies.equity.screener import TrainConfig
from stockbot.strategies.equity.universes import load_universe
from stockbot.risk.gate import RiskGate
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import SimServer
from stockbot.store import Store

T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)  # Wednesday, 10:30 New York
WEEK2 = "2026-11-25T15:30:00Z"
WEEK3 = "2026-12-02T15:30:00Z"
FAST = LadderTiming(poll_interval_s=0.02, fill_timeout_s=1.0, cancel_timeout_s=2.0)
TRAIN = TrainConfig(max_iter=20, steps=2, n_folds=2, min_rows=100)
NDX = load_universe("nasdaq100")
SPX = load_universe("sp500")
ACCOUNTS = {
    # 24 names each: max_aggro proposes 10 long + 10 short, so some constituents stay unproposed.
    "nasdaq100": ("SIMKEY_NDX", NDX.subset(NDX.constituents[:24]), "JPM"),
    "sp500": ("SIMKEY_SPX", SPX.subset([s for s in SPX.constituents if s not in NDX][:24]), "ASML"),
}

# --------------------------------------------------------------------------- write attribution

WRITER: contextvars.ContextVar[str | None] = contextvars.ContextVar("equity_writer", default=None)
WRITES: list[tuple[str, str, str]] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    account = WRITER.get()
    if account is None:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            WRITES.append((account, event, os.fsdecode(path)))
    elif event in ("os.rename", "os.replace"):
        WRITES.append((account, event, os.fsdecode(args[1])))
    elif event in ("os.remove", "os.unlink", "os.mkdir", "os.rmdir"):
        WRITES.append((account, event, os.fsdecode(args[0])))
    elif event == "sqlite3.connect":
        WRITES.append((account, event, os.fsdecode(args[0])))


if not getattr(sys, "_stockbot_equity_audit", False):
    sys.addaudithook(_audit)
    sys._stockbot_equity_audit = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- agents and fixtures


class PushyAgent:
    """An agent that votes ENTER with a foreign symbol and an unproposed constituent in front of
    the proposed picks: the supermajority alone would let them through if two such agents agree."""

    kind = "custom"

    def __init__(self, name: str, foreign: str, unproposed: list[str]):
        self.name, self.model = name, "test:pushy"
        self.foreign, self.unproposed = foreign, unproposed

    async def vote(self, ctx):
        extra = [self.foreign] + [s for s in self.unproposed if s not in {c.symbol for c in ctx.candidates}][:1]
        picks = [SlatePick(symbol=s, side="long", weight=0.5) for s in extra]
        picks += [SlatePick(symbol=c.symbol, side=c.side, weight=0.5) for c in ctx.candidates]
        return Vote(action="ENTER", confidence=0.9, rationale="push everything",
                    equity=EquityParams(slate=picks[: ctx.constraints.max_slate]))


@pytest.fixture
async def sim():
    specs = [AccountSpec(key_id=key, secret=key.replace("KEY", "SECRET"), equity=Decimal(1_000_000), multiplier=2,
                         shorting=True) for key, _, _ in ACCOUNTS.values()]
    server = SimServer(seed=5, always_open=True, start_at=T0, freeze=True, accounts=specs)
    await server.start()
    yield server
    await server.stop()


def settings_for(account: str, sim: SimServer, smtp_port: int | None) -> Settings:
    key, universe, _ = ACCOUNTS[account]
    agents = (AgentSpec(name="analyst", kind="llm", model="openai/scripted-enter", api_base=f"{sim.url}/v1",
                        api_key=SecretStr("sk-sim"), timeout_s=20),)
    alerts = AlertSettings(smtp_host="127.0.0.1", smtp_port=smtp_port, email_to="dad@example.org",
                           email_from="bot@example.org") if smtp_port else AlertSettings()
    return Settings(account=account, strategy="index",
                    alpaca=AlpacaSettings(api_key=SecretStr(key), secret_key=SecretStr(key.replace("KEY", "SECRET")),
                                          base_url=sim.url),
                    agents=AgentSettings(agents=agents, allow_fewer_than_three=True),
                    equity=EquitySettings(universe=universe.name, profile="max_aggro", top_k=10),
                    risk=RiskSettings(max_quote_age_s=120), alerts=alerts)


def build(account: str, sim: SimServer, store: Store, smtp_port: int | None) -> EquityEngine:
    _, universe, foreign = ACCOUNTS[account]
    s = settings_for(account, sim, smtp_port)
    bounds = bounds_for(s)
    agents = [*build_agents(s.agents, bounds=bounds),
              *(PushyAgent(f"pushy{i}", foreign, list(universe.constituents)) for i in range(2))]
    consensus = ConsensusRunner(agents, threshold=2 / 3, bounds=bounds, store=store, deadline_s=30)
    broker = AlpacaBroker(s.alpaca, backoff_s=0.01)
    executor = OrderExecutor(broker, store, lookup_attempts=3, lookup_delay_s=0.02)
    return EquityEngine(account, s, broker, store, executor, RiskGate(s.risk), consensus, universe=universe,
                        timing=FAST, train_config=TRAIN)


async def jump(sim: SimServer, to: str) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        (await client.post("/_sim/clock/jump", json={"to": to})).raise_for_status()


# --------------------------------------------------------------------------- the scenario


async def run_account(account: str, sim: SimServer, smtp_port: int | None, week: dict[str, asyncio.Event],
                      results: dict) -> None:
    WRITER.set(account)  # this task's context: every write below is attributed to the account
    store = Store.for_account(account)
    try:
        engine = build(account, sim, store, smtp_port)
        s = settings_for(account, sim, smtp_port)
        trained = await engine.train()
        screen = await engine.screen()
        first = await engine.decide()
        picks = await Advisor(engine, s.alerts).run()
        results[account] = {"trained": trained, "screen": screen, "first": first, "picks": picks}
        week[account].set()
        await week["jumped"].wait()
        results[account]["second"] = await engine.decide()
        results[account]["positions"] = await engine.deps.broker.positions()
        results[account]["open_orders"] = await engine.deps.broker.orders(status="open")
        week[account + "2"].set()
        await week["jumped2"].wait()
        grader = Grader(account, engine.deps.broker, engine.universe)
        clock = await engine.deps.broker.clock()
        results[account]["grades"] = await grader.run(clock.ts.astimezone(NY).date())
        results[account]["decisions"] = store.decisions(limit=20)
        results[account]["votes"] = [v for d in results[account]["decisions"] for v in store.votes(d.decision_id)]
        results[account]["trades"] = store.trades()
        results[account]["known_ids"] = {o.client_order_id for o in store.orders()}
    finally:
        store.close()


async def test_two_index_accounts_trade_side_by_side_and_stay_isolated(sim, smtp):
    WRITES.clear()
    port, sink = smtp
    week = {k: asyncio.Event() for k in ("nasdaq100", "sp500", "nasdaq1002", "sp5002", "jumped", "jumped2")}
    results: dict = {}

    async def conductor():
        await week["nasdaq100"].wait()
        await week["sp500"].wait()
        await jump(sim, WEEK2)
        week["jumped"].set()
        await week["nasdaq1002"].wait()
        await week["sp5002"].wait()
        await jump(sim, WEEK3)
        week["jumped2"].set()

    await asyncio.wait_for(asyncio.gather(run_account("nasdaq100", sim, port, week, results),
                                          run_account("sp500", sim, None, week, results), conductor()), 240)

    for account, (key, universe, foreign) in ACCOUNTS.items():
        r = results[account]
        allowed = universe.symbols
        # ---- trained, screened, voted, placed
        assert r["trained"].meta["universe"] == account and r["trained"].meta["account"] == account
        assert r["screen"].ranked and {x.symbol for x in r["screen"].ranked} <= set(universe.constituents)
        first, second = r["first"], r["second"]
        assert first.status == "rebalanced", first.reason
        assert first.strategy_version == f"{account}-max_aggro-2026-11-18"
        sides = {o["side"] for o in first.execution.opened}
        assert sides == {"long", "short"} and len(first.execution.opened) >= 10
        # ---- rebalanced a week later: something left the slate or flipped, closed via close_position
        assert second.status == "rebalanced", second.reason
        assert second.strategy_version == f"{account}-max_aggro-2026-11-25"
        assert second.execution.closed, "the second week's slate should differ from the first's"
        closes = [q for q in sim.state.requests.query(method="DELETE", path_prefix="/v2/positions/", key_id=key)]
        assert len(closes) >= len(second.execution.closed)
        closed_trades = [t for t in r["trades"] if t.status == "closed"]
        assert closed_trades and all(t.pnl is not None for t in closed_trades)
        # the reconciler agrees with the book: nothing to close, nothing external
        opened = [t for t in r["trades"] if t.status == "open"]
        rp = reconcile_plan(r["positions"], r["open_orders"], structures_from_trades(opened), [], r["known_ids"])
        assert rp.clean, rp

        # ---- universe scoping: screened, voted on, ordered
        for q in sim.state.requests.query(method="GET", path_prefix="/v2/stocks/", key_id=key):
            syms = set((q["query"].get("symbols") or "").split(",")) - {""}
            assert syms <= allowed, (account, q["path"], syms - allowed)
        posts = sim.state.requests.query(method="POST", path="/v2/orders", key_id=key)
        ordered = {p["body"]["symbol"] for p in posts}
        assert ordered and ordered <= set(universe.constituents)
        assert {q["path"].rsplit("/", 1)[-1] for q in closes} <= set(universe.constituents)
        assert {p.symbol for p in r["positions"]} <= set(universe.constituents)
        decisions = [d for d in r["decisions"]]
        assert len(decisions) == 3  # two trading decisions and one advisory one
        for d in decisions:
            assert {c["symbol"] for c in d.context["proposed"]} <= set(universe.constituents)
            assert {p["symbol"] for p in d.params.get("slate", [])} <= set(universe.constituents)
            assert d.params["strategy_version"].startswith(f"{account}-max_aggro-")
        # the pushy agents really did vote for the foreign symbol; it went nowhere
        pushed = {p["symbol"] for v in r["votes"] if v.vote and v.vote.get("equity")
                  for p in v.vote["equity"]["slate"]}
        assert foreign in pushed and foreign not in ordered
        unproposed = pushed - {c.symbol for c in first.proposed} - {c.symbol for c in second.proposed} - {foreign}
        assert unproposed and not (unproposed & ordered), "an unproposed pick must never be ordered"

        # ---- advisor picks and grading
        picks_dir = memory_dir(account) / "picks"
        assert r["picks"].path == picks_dir / "2026-11-18.json"
        payload = json.loads(r["picks"].path.read_text())
        assert payload["account"] == account and {p["symbol"] for p in payload["picks"]} <= set(universe.constituents)
        assert payload["agents"] and all(a["rationale"] for a in payload["agents"])
        g = r["grades"]
        assert g.graded_days == ["2026-11-18"] and not g.refused
        graded = json.loads((picks_dir / "grades" / "2026-11-18.json").read_text())
        assert len(graded["picks"]) == len(payload["picks"])
        assert (picks_dir / "learnings.json").exists() and (picks_dir / "LEARNINGS.md").exists()
        assert g.learnings["summary"]["overall"]["n"] == len(payload["picks"])
        assert set(g.learnings["summary"]["by_side"]) == {"long", "short"}

    # only the nasdaq100 account has SMTP configured: exactly one bilingual e-mail
    assert len(sink.messages) == 1
    msg = message_from_bytes(sink.messages[0], policy=policy.default)
    body = msg.get_content()
    assert msg["Subject"] == "stockbot nasdaq100: picks 2026-11-18 / 每日选股" and "Longs:" in body and "做多" in body and "做空" in body

    # ---- isolation: every write each account made is inside its own memory directory
    root = memory_root().resolve()
    assert WRITES, "the audit hook saw no writes at all"
    for account, event, path in WRITES:
        p = Path(path).resolve()
        if p.is_relative_to(Path(sys.prefix).resolve()) or path.startswith("/dev/"):
            continue  # interpreter caches, not account data
        own = memory_dir(account).resolve()
        if event == "os.mkdir" and own.is_relative_to(p):
            continue  # creating the parents of its own directory (mkdir -p), nothing else
        assert p.is_relative_to(own), (account, event, path)
    for f in root.rglob("*"):
        if f.is_file():
            rel = f.relative_to(root).parts
            assert rel[0] == "accounts" and rel[1] in ACCOUNTS, f
