"""Engine scenario fixtures: the real AlpacaBroker against ``stockbot sim`` on loopback, scripted
LLM agents reached through litellm, a real state store, and short ladder timings.

The sim runs on a frozen clock at ``T0`` (a Wednesday, 10:30 New York) and is always open, so a
test's market never moves unless the test jumps the clock (``POST /_sim/clock/jump``): prices,
fills and DTEs are deterministic for a seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from stockbot.broker.alpaca import AlpacaBroker  # noqa: E402
from stockbot.trading.executor import OrderExecutor  # noqa: E402
from stockbot.config import (AgentSettings, AgentSpec, AlpacaSettings, CondorSettings, RiskSettings,  # noqa: E402
                             Settings)
from stockbot.consensus.runner import ConsensusRunner  # noqa: E402
from stockbot.strategies.condor.engine import CondorEngine  # noqa: E402
from stockbot.trading.ladder import LadderTiming  # noqa: E402
from stockbot.trading.reconciler import Reconciler  # noqa: E402
from stockbot.strategies.condor.recovery import CondorBooker
from stockbot.risk.gate import RiskGate  # noqa: E402
from stockbot.sim.accounts import AccountSpec  # noqa: E402
from stockbot.sim.app import SimServer  # noqa: E402
from stockbot.store import Store  # noqa: E402
from simfixtures import RecordingAlerter  # noqa: E402,F401 - one recording alerter for every suite

T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)
KEY, SECRET = "SIMKEY_ENGINE", "SIMSECRET_ENGINE"
ACCOUNT = "eng"
FAST = LadderTiming(poll_interval_s=0.02, fill_timeout_s=0.15, cancel_timeout_s=2.0)
# No-internet guard: the suite-wide one in tests/conftest.py (resolution and connects).


@pytest.fixture
async def make_sim():
    """``await make_sim(equity=, multiplier=, seed=, always_open=, mleg_fill=...)`` -> a started SimServer."""
    started: list[SimServer] = []

    async def make(*, equity: str = "100000", multiplier: int = 2, seed: int = 3, always_open: bool = True,
                   **kw: Any) -> SimServer:
        server = SimServer(seed=seed, always_open=always_open, start_at=T0, freeze=True,
                           accounts=[AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal(equity),
                                                 multiplier=multiplier)], **kw)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        await server.stop()


def make_settings(sim: SimServer, *, agent: str = "scripted-enter", condor: dict | None = None,
                  risk: dict | None = None) -> Settings:
    """An account's settings against ``sim``: three scripted LLM agents, a narrowed DTE range
    (a smaller chain to fetch) and fire counters roomy enough for several ladders."""
    agents = tuple(AgentSpec(name=f"agent{i}", kind="llm", model=f"openai/{agent}", api_base=f"{sim.url}/v1",
                             api_key=SecretStr("sk-sim"), timeout_s=20) for i in range(3))
    return Settings(
        account=ACCOUNT,
        alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=sim.url),
        agents=AgentSettings(agents=agents, deadline_s=30),
        condor=CondorSettings(**{"dte_bounds": (14, 50), **(condor or {})}),
        risk=RiskSettings(**{"max_orders_per_hour": 100, "max_orders_per_day": 300, **(risk or {})}),
    )


@dataclass
class Rig:
    """One account's engine and reconciler, wired as the daemon wires them."""

    sim: SimServer
    settings: Settings
    store: Store
    broker: AlpacaBroker
    executor: OrderExecutor
    engine: CondorEngine
    reconciler: Reconciler
    captured: list = field(default_factory=list)
    alerts: RecordingAlerter = field(default_factory=RecordingAlerter)

    def requests(self, method: str, path: str | None = None, prefix: str | None = None) -> list[dict]:
        return self.sim.state.requests.query(method=method, path=path, path_prefix=prefix, key_id=KEY)

    def order_posts(self) -> list[dict]:
        return self.requests("POST", "/v2/orders")

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.sim.url) as client:
            resp = await client.request(method, path, json=body)
            resp.raise_for_status()
            return resp.json() if resp.content else None

    def sim_account(self):
        return self.sim.state.accounts.get(KEY)

    async def fault(self, **rule: Any) -> None:
        await self.admin("POST", "/_sim/faults", {"key_id": KEY, **rule})

    async def plant(self, symbol: str, qty: int | str, **extra: Any) -> None:
        await self.admin("POST", "/_sim/positions", {"key_id": KEY, "symbol": symbol, "qty": str(qty), **extra})


def build_rig(sim: SimServer, store: Store, settings: Settings | None = None, lessons: Any = None) -> Rig:
    """A fresh engine + reconciler over ``store`` (a second call on the same store = a restart)."""
    settings = settings or make_settings(sim)
    broker = AlpacaBroker(settings.alpaca, backoff_s=0.01)
    executor = OrderExecutor(broker, store, lookup_attempts=3, lookup_delay_s=0.02)
    captured: list = []
    alerts = RecordingAlerter()
    engine = CondorEngine(ACCOUNT, settings, broker, store, executor, RiskGate(settings.risk),
                          ConsensusRunner.from_settings(settings, store=store), lessons=lessons,
                          capture=captured.append, alerter=alerts, timing=FAST)
    reconciler = Reconciler(ACCOUNT, broker, store, executor, booker=CondorBooker(store, broker),
                            capture=captured.append, alerter=alerts, timing=FAST,
                            lock=engine.lock)
    return Rig(sim, settings, store, broker, executor, engine, reconciler, captured, alerts)


@pytest.fixture
def build():
    """``build(sim, store, settings=None, lessons=None) -> Rig`` (tests must not import conftest by name)."""
    return build_rig


@pytest.fixture
def settings_for():
    """``settings_for(sim, agent=..., condor={...}, risk={...}) -> Settings``."""
    return make_settings


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()
