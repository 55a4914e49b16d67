"""The websocket endpoints of the sim's market data stream; the hub behind them is ``SimState.stream``."""

from __future__ import annotations

from aiohttp import web

from stockbot.sim.state import state_of
from stockbot.sim.stream import STREAM_PATHS


def register(app: web.Application) -> None:
    """Add the stream endpoints (``/v2/iex``, ``/v2/sip``, ``/v2/test``, ``/v2/delayed_sip``) to ``app``."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        return await state_of(request).stream.handle(request)

    for path in STREAM_PATHS:
        app.router.add_get(path, handle)
