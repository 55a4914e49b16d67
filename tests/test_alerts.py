"""Alerts reach a local webhook receiver and a local SMTP server; rate limit; no secret leaks."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from pydantic import SecretStr

from stockbot import log
from stockbot.alerts import Alerter
from stockbot.config import AlertSettings


@pytest.fixture
async def webhook():
    received: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook/{token}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook/SECRETTOKEN123456", received
    await runner.cleanup()


async def test_webhook_and_email_with_rate_limit(webhook, smtp):
    url, received = webhook
    port, sink = smtp
    settings = AlertSettings(webhook_url=SecretStr(url), smtp_host="127.0.0.1", smtp_port=port,
                             email_from="bot@localhost", email_to="ops@localhost", min_interval_s=300)
    log.redactor().add(["PKLEAKEDKEY000000000"])
    now = [1000.0]
    alerter = Alerter(settings, "sp500", clock=lambda: now[0])
    res = await alerter.send("orphan", "closed naked short SPY put; key PKLEAKEDKEY000000000")
    assert set(res.sent) == {"webhook", "email"} and not res.errors
    assert received and "orphan" in received[0]["text"] and "sp500" in received[0]["text"]
    assert "PKLEAKEDKEY000000000" not in received[0]["text"]
    await asyncio.sleep(0)
    assert sink.messages and b"orphan" in sink.messages[0]
    # same kind within the interval: suppressed; another kind: sent
    assert (await alerter.send("orphan", "again")).suppressed
    assert not (await alerter.send("halt", "STOP flag")).suppressed
    now[0] += 301
    assert not (await alerter.send("orphan", "later")).suppressed
    assert len(received) == 3


async def test_broken_channel_never_raises():
    settings = AlertSettings(webhook_url=SecretStr("http://127.0.0.1:9/nothing-listens"))
    res = await Alerter(settings, None).send("job_crash", "boom")
    assert res.sent == () and res.errors and "webhook" in res.errors[0]
