"""Reusable pytest fixtures for a running local exchange (``stockbot sim``).

Import them into any test module or conftest (``tests/`` is on ``sys.path`` through its
``conftest.py``)::

    from simfixtures import sim, sim_thread, make_sim_thread  # noqa: F401  (pytest fixtures)

- ``sim``: an async fixture; a started :class:`~stockbot.sim.app.SimServer` on a free loopback port
  (``sim.url``, ``sim.state``), market always open, seed 0. For async clients (httpx, aiohttp) or
  sync clients run through ``asyncio.to_thread`` — a sync client called directly on the test's
  loop would block the server it talks to.
- ``sim_thread``: a sync fixture; the same sim serving from its own thread
  (:class:`~stockbot.sim.app.RunningSim`: ``.url``, ``.state``, ``.call(fn, *args)``,
  ``.admin(method, path, body)``), for alpaca-py's sync clients.
- ``make_sim_thread``: a factory fixture; ``make_sim_thread(**SimServer kwargs)`` starts more sims
  (a frozen clock, a state file, extra accounts...) and stops them all at teardown.

Demo keys: ``DEMO_KEY`` / ``DEMO_SECRET``. ``trading_client(sim_or_url, key, secret)`` builds a real
``TradingClient`` against a sim.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from stockbot.sim.accounts import DEMO_KEY_ID as DEMO_KEY
from stockbot.sim.accounts import DEMO_SECRET
from stockbot.sim.app import RunningSim, SimServer, run_in_thread

# A Wednesday, 10:30 New York: the market is open and nothing special happens that day.
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)

__all__ = ["DEMO_KEY", "DEMO_SECRET", "RecordingAlerter", "wait_for", "T0", "make_sim_thread", "pick_condor", "sim", "sim_thread",
           "trading_client"]


async def wait_for(cond, timeout: float = 30.0, what: str = "condition"):
    """Poll ``cond`` on the loop until truthy (no timing assertions: the bound only ends a hang)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.05)


class RecordingAlerter:
    """Stands in for ``stockbot.alerts.Alerter`` (same ``send``), keeping what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, kind: str, message: str, *, force: bool = False) -> None:
        self.sent.append((kind, message))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.sent]


def trading_client(target, key: str = DEMO_KEY, secret: str = DEMO_SECRET, **kwargs):
    """alpaca-py's real ``TradingClient`` pointed at a sim (a RunningSim, a SimServer or a URL)."""
    from alpaca.trading.client import TradingClient

    url = target if isinstance(target, str) else target.url
    return TradingClient(key, secret, paper=True, url_override=url, **kwargs)


@pytest.fixture
async def sim():
    """A started in-process sim (always open, seed 0); stopped after the test."""
    async with SimServer(seed=0, always_open=True) as server:
        yield server


@pytest.fixture
def sim_thread():
    """A sim serving from a background thread (always open, seed 0); stopped after the test."""
    with run_in_thread(seed=0, always_open=True) as running:
        yield running


@pytest.fixture
def make_sim_thread():
    """Factory: ``make_sim_thread(**SimServer kwargs) -> RunningSim``; every sim is stopped at teardown."""
    started: list[RunningSim] = []

    def make(**kwargs) -> RunningSim:
        running = run_in_thread(**kwargs)
        started.append(running)
        return running

    yield make
    for running in reversed(started):
        running.stop()


def pick_condor(state, underlying: str = "SPY", *, min_days: int = 14, width: int = 5,
                otm: float = 0.03) -> dict[str, str]:
    """OCC symbols of a listed iron condor on the sim's market now: short strikes about ``otm``
    away from the spot, wings ``width`` dollars further out, the first expiration at least
    ``min_days`` away. Returns {"short_call", "long_call", "short_put", "long_put", "expiration"}.
    Call it on the sim's loop (``running.call(pick_condor, running.state)``) or from async code."""
    from datetime import timedelta
    from decimal import Decimal

    market = state.market
    now = state.clock.now()
    spot = market.price(underlying)
    contracts = market.option_contracts(underlying)
    expiration = min(c.expiration for c in contracts if c.expiration >= (now + timedelta(days=min_days)).date())
    chain = [c for c in contracts if c.expiration == expiration]

    def nearest(right: str, strike: Decimal) -> str:
        return min((c for c in chain if c.right.value == right), key=lambda c: abs(c.strike - strike)).symbol

    def strike_of(symbol: str) -> Decimal:
        return next(c.strike for c in chain if c.symbol == symbol)

    short_call = nearest("call", spot * Decimal(str(1 + otm)))
    short_put = nearest("put", spot * Decimal(str(1 - otm)))
    return {"short_call": short_call, "long_call": nearest("call", strike_of(short_call) + width),
            "short_put": short_put, "long_put": nearest("put", strike_of(short_put) - width),
            "expiration": expiration.isoformat()}
