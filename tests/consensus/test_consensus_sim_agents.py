"""The sim's OpenAI-compatible scripted agent endpoint, spoken to over plain HTTP."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from stockbot.consensus.prompt import build_prompt
from stockbot.consensus.schema import ParamBounds
from stockbot.sim.agents import AGENTS_KEY, AgentServer, _parse_model, analyst, register


def _body(model, content="hello"):
    return {"model": model, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": content}]}


async def _post(url, body, **kw):
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/chat/completions", json=body, **kw) as r:
            return r.status, await r.json()


async def test_chat_completion_shape(agent_server, make_condor):
    prompt = build_prompt(make_condor(), ParamBounds())
    status, data = await _post(agent_server.url, {"model": "scripted-analyst", "messages": prompt.messages()},
                               headers={"Authorization": "Bearer x"})
    assert status == 200 and data["object"] == "chat.completion"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    vote = json.loads(choice["message"]["content"])
    assert vote["action"] == "ENTER" and set(vote["condor"]) == {"short_delta", "wing_width", "dte"}
    u = data["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["prompt_tokens"] > 100


@pytest.mark.parametrize("body, status, code", [
    ({"model": "scripted-nope", "messages": []}, 404, "model_not_found"),
    ({"model": "gpt-4o", "messages": []}, 404, "model_not_found"),
    ({"messages": []}, 400, "invalid_request"),
    ({"model": "scripted-hold"}, 400, "invalid_request"),
    ({"model": "scripted-error", "messages": []}, 500, "internal_error"),
])
async def test_errors_are_openai_shaped(agent_server, body, status, code):
    got, data = await _post(agent_server.url, body)
    assert got == status and data["error"]["code"] == code


async def test_models_and_request_log(agent_server):
    async with aiohttp.ClientSession() as s:
        async with s.get(agent_server.url + "/v1/models") as r:
            ids = [m["id"] for m in (await r.json())["data"]]
        await _post(agent_server.url, _body("scripted-hold"), headers={"Authorization": "Bearer secret-key"})
        async with s.get(agent_server.url + "/_sim/agents/requests") as r:
            log = await r.json()
    assert {"scripted-analyst", "scripted-timeout", "scripted-echo"} <= set(ids)
    assert log[-1]["model"] == "scripted-hold" and log[-1]["has_auth"] is True
    assert "secret-key" not in json.dumps(log)


@pytest.mark.parametrize("model, behaviour, delay", [
    ("scripted-analyst", "analyst", 0.0), ("openai/scripted-hold", "hold", 0.0), ("scripted-slow", "slow", 1.0),
    ("scripted-slow-0.25", "slow", 0.25), ("scripted-slow-x", "", 0.0), ("scripted-slow-nan", "slow", 1.0),
    ("gpt-4o", "", 0.0),
])
def test_parse_model(model, behaviour, delay):
    assert _parse_model(model) == (behaviour, delay)


@pytest.mark.parametrize("ctx, action", [
    (None, "HOLD"),
    ({"strategy": "condor", "iv_rank": 20}, "HOLD"),
    ({"strategy": "condor", "iv_rank": 50, "price_action": {"ret_20d": 0.09}}, "HOLD"),
    ({"strategy": "condor", "iv_rank": 50, "price_action": {"ret_20d": 0.01, "ret_5d": 0.0}}, "ENTER"),
    ({"strategy": "equity", "iv_rank": 90, "candidates": [{"symbol": "A", "score": 1}]}, "HOLD"),
    ({"strategy": "equity", "iv_rank": 20, "candidates": []}, "HOLD"),
    ({"strategy": "equity", "iv_rank": 20, "candidates": [{"symbol": "A", "score": 1}]}, "ENTER"),
])
def test_analyst_table(ctx, action):
    assert analyst(ctx)["action"] == action


async def test_delay_header_and_query(agent_server):
    call = asyncio.ensure_future(_post(agent_server.url, _body("scripted-hold"), headers={"X-Sim-Delay": "0.3"}))
    while agent_server.state.waiting == 0:  # the handler is holding the answer back
        await asyncio.sleep(0.01)
    assert not call.done()
    status, data = await call
    assert status == 200 and agent_server.state.waiting == 0
    async with aiohttp.ClientSession() as s:
        async with s.post(agent_server.url + "/v1/chat/completions?delay=0.01", json=_body("scripted-hold")) as r:
            assert r.status == 200
        async with s.post(agent_server.url + "/v1/chat/completions", json=_body("scripted-hold"),
                          headers={"X-Sim-Delay": "soon"}) as r:
            assert r.status == 400


async def test_timeout_handler_ends_when_the_client_gives_up(agent_server):
    with pytest.raises(asyncio.TimeoutError):
        await _post(agent_server.url, _body("scripted-timeout"), timeout=aiohttp.ClientTimeout(total=0.2))
    for _ in range(200):  # the held handler notices the closed connection and returns
        if agent_server.state.waiting == 0:
            break
        await asyncio.sleep(0.02)
    assert agent_server.state.waiting == 0


async def test_timeout_handler_ends_cleanly_on_shutdown():
    srv = AgentServer(max_wait_s=60)
    await srv.start()
    call = asyncio.ensure_future(_post(srv.url, _body("scripted-timeout")))
    while srv.state.waiting == 0:
        await asyncio.sleep(0.01)
    await srv.stop()  # on_shutdown releases the handler; the client gets an answer, not a hang
    status, data = await asyncio.wait_for(call, 5)
    assert status == 504 and data["error"]["code"] == "timeout"


async def test_register_on_a_shared_app():
    """What the sim's build_app does: our routes beside other routes on one app."""
    app = web.Application()

    async def other(request):
        return web.json_response({"ok": True})

    app.router.add_get("/v2/clock", other)
    register(app)
    assert isinstance(app[AGENTS_KEY].max_wait_s, float)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        status, data = await _post(url, _body("scripted-hold"))
        assert status == 200 and json.loads(data["choices"][0]["message"]["content"])["action"] == "HOLD"
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/v2/clock") as r:
                assert (await r.json()) == {"ok": True}
    finally:
        await runner.cleanup()


async def test_unreadable_context_is_a_cautious_hold(agent_server):
    content = '```json\n{"strategy": "condor", "iv_rank": "high", "bounds": {"dte": [7, 60]}}\n```'
    status, data = await _post(agent_server.url, _body("scripted-analyst", content))
    assert status == 200
    assert json.loads(data["choices"][0]["message"]["content"])["action"] == "HOLD"
