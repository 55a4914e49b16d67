"""What one running sim holds (:class:`SimState`) and how a request handler reaches it.

The route modules import this module, never :mod:`stockbot.sim.app`: the app builds the aiohttp
application from the routes, so a route importing the app would close an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from stockbot.sim.accounts import Accounts
from stockbot.sim.clock import SimClock
from stockbot.sim.exchange import Exchange
from stockbot.sim.faults import Faults, RateLimiter
from stockbot.sim.market import Market
from stockbot.sim.option_stream import OptionStreamHub
from stockbot.sim.persist import Persister
from stockbot.sim.request_log import RequestLog
from stockbot.sim.stream import StreamHub

SIM_KEY = web.AppKey("sim", "SimState")
ACCOUNT_KEY = web.RequestKey("sim_account", object)  # the authenticated SimAccount of a request


@dataclass
class SimState:
    """Everything one running sim holds; handlers reach it as ``state_of(request)``."""

    clock: SimClock
    market: Market
    accounts: Accounts
    exchange: Exchange
    faults: Faults
    stream: StreamHub
    requests: RequestLog  # every request served
    option_stream: OptionStreamHub  # /v1beta1/indicative and /v1beta1/opra
    limiter: RateLimiter | None = None
    persister: Persister | None = None  # only with a state file
    tick_s: float = 0.5
    extra: dict = field(default_factory=dict)


def state_of(request: web.Request) -> SimState:
    """The :class:`SimState` of the app serving ``request``."""
    return request.app[SIM_KEY]
