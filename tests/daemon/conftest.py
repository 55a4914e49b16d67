"""Daemon fixtures: the real Daemon against ``stockbot sim`` on loopback, a local NOTIFY_SOCKET.

The sim runs in-process on the test's loop (``make_sim``) with a frozen clock at ``T0`` (a
Wednesday, 10:30 New York) and the market always open, so the broker's clock and calendar say
"trading day, open" and nothing moves unless a test moves it. Jobs run on long intervals and
tests fire them with ``Daemon.trigger`` (through the scheduler, like a timer would).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from daemonkit import ACCOUNT, KEY, QUIET, SECRET, T0, daemon_settings  # noqa: E402,F401 - shared with the tests
from simfixtures import RecordingAlerter, wait_for  # noqa: E402,F401 - one of each for every suite
from stockbot.chaos.rig import NotifySocket  # noqa: E402 - the same fake systemd the chaos suite uses
from stockbot.config import Settings  # noqa: E402
from stockbot.daemon import Daemon  # noqa: E402
from stockbot.daemon.jobs import Timings  # noqa: E402
from stockbot.sdnotify import SdNotifier  # noqa: E402
from stockbot.sim.accounts import AccountSpec  # noqa: E402
from stockbot.sim.app import SimServer  # noqa: E402

@pytest.fixture(autouse=True)
def reset_logging():
    """``run_daemon`` / ``alert_main`` configure logging onto the test's captured stdout, which
    pytest closes after the test: put structlog and stdlib logging back on open streams."""
    yield
    structlog.reset_defaults()
    logging.basicConfig(level=logging.WARNING, force=True)


@pytest.fixture
def notify_socket(tmp_path):
    # AF_UNIX paths are limited to ~107 bytes: pytest's tmp_path can be longer.
    short = Path(f"/tmp/sbn-{os.getpid()}-{id(tmp_path) % 100000}.sock")
    short.unlink(missing_ok=True)
    ns = NotifySocket(short)
    yield ns
    ns.close()
    short.unlink(missing_ok=True)


@pytest.fixture
async def make_sim():
    started: list[SimServer] = []

    async def make(**kw: Any) -> SimServer:
        server = SimServer(seed=kw.pop("seed", 3), always_open=True, start_at=kw.pop("start_at", T0), freeze=True,
                           mleg_fill="mid",
                           accounts=[AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal("100000"))],
                           quote_rate=kw.pop("quote_rate", 5), tick_s=0.1, **kw)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        await server.stop()


@dataclass
class Rig:
    sim: SimServer
    daemon: Daemon
    alerts: RecordingAlerter

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.sim.url) as client:
            resp = await client.request(method, path, json=body)
            resp.raise_for_status()
            return resp.json() if resp.content else None

    async def fault(self, **rule: Any) -> dict:
        return await self.admin("POST", "/_sim/faults", {"key_id": KEY, **rule})

    def order_posts(self) -> list[dict]:
        return self.sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)

    def events(self, kind: str) -> list:
        return self.daemon.store.events(kind=kind)


@pytest.fixture
def rig_for():
    """``rig_for(sim, settings=None, timings=QUIET, notify=None) -> Rig`` (not started)."""
    def make(sim: SimServer, settings: Settings | None = None, timings: Timings = QUIET,
             notify: NotifySocket | None = None) -> Rig:
        alerts = RecordingAlerter()
        sd = SdNotifier({"NOTIFY_SOCKET": str(notify.path)} if notify else {})
        daemon = Daemon(settings or daemon_settings(sim.url), timings=timings, sd=sd, alerter=alerts,
                        broker_kwargs={"backoff_s": 0.01})
        return Rig(sim, daemon, alerts)
    return make


@pytest.fixture
def waiter():
    return wait_for
