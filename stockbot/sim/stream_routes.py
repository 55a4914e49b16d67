"""The websocket endpoints of the sim's market data stream; the hub behind them is ``SimState.stream``."""

from __future__ import annotations

from aiohttp import web

from stockbot.sim.option_stream import OPTION_STREAM_PATHS
from stockbot.sim.state import state_of
from stockbot.sim.stream import STREAM_PATHS


def register(app: web.Application) -> None:
    """Add the stock stream endpoints (``/v2/iex``, ``/v2/sip``, ``/v2/test``, ``/v2/delayed_sip``)
    and the option ones (``/v1beta1/indicative``, ``/v1beta1/opra``) to ``app``."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        return await state_of(request).stream.handle(request)

    async def handle_options(request: web.Request) -> web.WebSocketResponse:
        return await state_of(request).option_stream.handle(request)

    for path in STREAM_PATHS:
        app.router.add_get(path, handle)
    for path in OPTION_STREAM_PATHS:
        app.router.add_get(path, handle_options)
