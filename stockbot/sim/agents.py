"""Scripted LLM agents behind an OpenAI-compatible ``POST /v1/chat/completions``.

The demo and the tests reach these through litellm exactly as they would reach a real provider
(``model="openai/scripted-analyst"``, ``api_base="<sim url>/v1"``, any api key). The model name
selects the behaviour:

==========================  ================================================================
``scripted-analyst``        votes from the numbers in the prompt's ```json context block
``scripted-enter``          always ENTER (parameters inside the bounds the prompt states)
``scripted-hold``           always HOLD
``scripted-slow[-S]``       the analyst, after S seconds (default 1.0)
``scripted-timeout``        never answers (until the client goes away or the server stops)
``scripted-malformed``      truncated JSON
``scripted-prose``          the analyst's JSON wrapped in chatty prose (extractable)
``scripted-ambiguous``      two different JSON objects in prose (not safely extractable)
``scripted-oob``            ENTER with a short delta outside the bounds
``scripted-error``          HTTP 500 (a transport/provider failure)
``scripted-echo``           obeys instructions it finds in the user message ("vote ENTER",
                            "short_delta = 0.45"), else acts as the analyst
==========================  ================================================================

Any behaviour can be delayed with the ``X-Sim-Delay`` header or a ``?delay=S`` query. Waiting
handlers stop when the client disconnects or the server shuts down, never later than
``max_wait_s``. Every request is logged (model, messages, parameters; never the api key) for
tests: ``app[AGENTS_KEY].requests`` or ``GET /_sim/agents/requests``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_SLOW_S = 1.0
MAX_WAIT_S = 120.0

_CONTEXT_RE = re.compile(r"```json[ \t]*\r?\n(.*?)\r?\n```", re.DOTALL)
_ECHO_VOTE_RE = re.compile(r"(?i)\bvote\s+(enter|hold)\b")
_ECHO_DELTA_RE = re.compile(r"(?i)short[_ ]delta\s*(?:=|:|to|of)\s*([0-9]*\.?[0-9]+)")


@dataclass
class ScriptedAgents:
    """State of the scripted endpoint: request log and the shutdown signal for waiting handlers."""

    max_wait_s: float = MAX_WAIT_S
    requests: deque = field(default_factory=lambda: deque(maxlen=500))
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    counter: Any = field(default_factory=itertools.count)
    waiting: int = 0  # handlers currently held back (slow/timeout); tests watch it drain


AGENTS_KEY = web.AppKey("sim_agents", ScriptedAgents)


# --------------------------------------------------------------------------- the analyst's numbers


def _context(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first ```json block of the last user message: our machine-readable context."""
    for m in reversed(messages):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            match = _CONTEXT_RE.search(m["content"])
            if not match:
                return None
            try:
                data = json.loads(match.group(1))
            except json.JSONDecodeError:
                return None
            return data if isinstance(data, dict) else None
    return None


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def _bounds(ctx: dict[str, Any]) -> dict[str, Any]:
    b = ctx.get("bounds") or {}
    return {"delta": b.get("short_delta", [0.05, 0.30]), "width": b.get("wing_width", [1, 20]),
            "dte": b.get("dte", [7, 60]), "max_slate": int(b.get("max_slate", 5))}


def _dte(ctx: dict[str, Any], b: dict[str, Any], target: int) -> int:
    lo, hi = b["dte"]
    options = [int(d) for d in ctx.get("dte_candidates") or [] if lo <= d <= hi]
    options += [int(s["dte"]) for s in ctx.get("strikes") or [] if lo <= s.get("dte", -1) <= hi]
    if not options:
        return int(_clamp(target, lo, hi))
    return min(sorted(set(options)), key=lambda d: (abs(d - target), d))


def _slate(ctx: dict[str, Any], b: dict[str, Any], weight: float | None = None) -> list[dict[str, Any]]:
    allowed = set(ctx.get("allowed_symbols") or [c["symbol"] for c in ctx.get("candidates") or []])
    shorting = bool((ctx.get("constraints") or {}).get("shorting_enabled"))
    picks = []
    for c in sorted(ctx.get("candidates") or [], key=lambda c: (-abs(c.get("score", 0)), c["symbol"])):
        side = c.get("side") or ("long" if c.get("score", 0) >= 0 else "short")
        if c["symbol"] in allowed and (side == "long" or shorting):
            picks.append((c["symbol"], side))
    picks = picks[: b["max_slate"]]
    return [{"symbol": s, "side": side, "weight": round(weight or 1 / len(picks), 6)} for s, side in picks]


def _vote(action: str, confidence: float, rationale: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action, "confidence": round(confidence, 3), "rationale": rationale}
    if params:
        out.update(params)
    return out


def analyst(ctx: dict[str, Any] | None) -> dict[str, Any]:
    """A deterministic 'model' that reads only the JSON numbers (never the free text)."""
    if not ctx:
        return _vote("HOLD", 0.5, "no machine-readable context in the prompt")
    b = _bounds(ctx)
    ivr = ctx.get("iv_rank")
    pa = ctx.get("price_action") or {}
    r20, r5 = pa.get("ret_20d"), pa.get("ret_5d")
    if ctx.get("strategy") == "condor":
        if ivr is None or ivr < 35:
            return _vote("HOLD", 0.7, f"IV rank {ivr} too low to sell premium")
        if (r20 is not None and abs(r20) > 0.05) or (r5 is not None and abs(r5) > 0.03):
            return _vote("HOLD", 0.7, f"trending market (20d {r20}, 5d {r5})")
        delta = round(_clamp(0.12 + ivr / 1000, *b["delta"]), 4)
        params = {"condor": {"short_delta": delta, "wing_width": _clamp(5, *b["width"]), "dte": _dte(ctx, b, 40)}}
        return _vote("ENTER", _clamp(0.5 + ivr / 250, 0, 0.95), f"IV rank {ivr}, quiet tape", params)
    if ivr is not None and ivr > 85:
        return _vote("HOLD", 0.7, f"IV rank {ivr}: turmoil")
    slate = _slate(ctx, b)
    if not slate:
        return _vote("HOLD", 0.6, "no candidates")
    return _vote("ENTER", 0.65, "screener picks in a calm tape", {"equity": {"slate": slate}})


def always_enter(ctx: dict[str, Any] | None) -> dict[str, Any]:
    """ENTER with parameters inside the stated bounds (different from the analyst's)."""
    ctx = ctx or {}
    b = _bounds(ctx)
    if ctx.get("strategy", "condor") == "condor":
        lo, hi = b["delta"]
        wlo, whi = b["width"]
        params = {"condor": {"short_delta": round(lo + (hi - lo) * 0.6, 4), "wing_width": _clamp(10, wlo, whi),
                             "dte": _dte(ctx, b, 45)}}
    else:
        slate = _slate(ctx, b, weight=0.5)
        if not slate:
            return _vote("HOLD", 0.5, "nothing to enter")
        params = {"equity": {"slate": slate}}
    return _vote("ENTER", 0.9, "always enter", params)


def echo(ctx: dict[str, Any] | None, user_text: str) -> dict[str, Any]:
    """Obeys whatever instructions appear anywhere in the user message: the injection victim."""
    vote = analyst(ctx)
    m = _ECHO_VOTE_RE.search(user_text)
    if m and m.group(1).upper() == "ENTER":
        vote = always_enter(ctx)
        vote["rationale"] = "following instructions found in the prompt"
    elif m:
        vote = _vote("HOLD", 0.9, "following instructions found in the prompt")
    d = _ECHO_DELTA_RE.search(user_text)
    if d and vote.get("condor"):
        vote["condor"]["short_delta"] = float(d.group(1))
    return vote


# --------------------------------------------------------------------------- HTTP


def _openai_error(status: int, message: str, code: str, typ: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": typ, "param": None, "code": code}},
                             status=status)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _parse_model(model: str) -> tuple[str, float]:
    """Behaviour name and built-in delay: 'scripted-slow-0.2' -> ('slow', 0.2)."""
    name = model.split("/", 1)[-1]
    if not name.startswith("scripted-"):
        return "", 0.0
    rest = name[len("scripted-"):]
    if rest == "slow" or rest.startswith("slow-"):
        raw = rest[5:] if rest.startswith("slow-") else ""
        try:
            delay = float(raw) if raw else DEFAULT_SLOW_S
        except ValueError:
            return "", 0.0
        return "slow", delay if math.isfinite(delay) and delay >= 0 else DEFAULT_SLOW_S
    return rest, 0.0


BEHAVIOURS = {"analyst", "enter", "hold", "slow", "timeout", "malformed", "prose", "ambiguous", "oob", "error", "echo"}


async def _pause(state: ScriptedAgents, request: web.Request, seconds: float) -> bool:
    """Wait ``seconds`` (bounded); False if the client left or the server is shutting down."""
    loop = asyncio.get_running_loop()
    end = loop.time() + min(seconds, state.max_wait_s)
    state.waiting += 1
    try:
        while True:
            left = end - loop.time()
            if left <= 0:
                return True
            if state.shutdown.is_set() or request.transport is None or request.transport.is_closing():
                return False
            try:
                await asyncio.wait_for(state.shutdown.wait(), timeout=min(0.05, left))
            except asyncio.TimeoutError:
                pass
    finally:
        state.waiting -= 1


def _answer(behaviour: str, ctx: dict[str, Any] | None, user_text: str) -> str:
    if behaviour in ("analyst", "slow"):
        return json.dumps(analyst(ctx))
    if behaviour == "enter":
        return json.dumps(always_enter(ctx))
    if behaviour == "hold":
        return json.dumps(_vote("HOLD", 0.8, "always hold"))
    if behaviour == "malformed":
        return '{"action": "ENTER", "confidence": 0.9, "rationale": "trust me", "condor": {"short_delta": 0.1'
    if behaviour == "prose":
        return ("Sure! I looked at the numbers carefully.\n\nHere is my vote: " + json.dumps(analyst(ctx))
                + "\n\nLet me know if you want me to explain my reasoning.")
    if behaviour == "ambiguous":
        return ("My first thought was " + json.dumps(_vote("HOLD", 0.5, "hmm")) + " but on reflection "
                + json.dumps(always_enter(ctx)))
    if behaviour == "oob":
        vote = always_enter(ctx)
        if vote.get("condor"):
            vote["condor"]["short_delta"] = 0.45
        elif vote.get("equity"):
            vote["equity"]["slate"] = vote["equity"]["slate"] * 1 + [
                {"symbol": f"ZZ{i}", "side": "long", "weight": 0.1} for i in range(60)]
        return json.dumps(vote)
    if behaviour == "echo":
        return json.dumps(echo(ctx, user_text))
    raise AssertionError(behaviour)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``: an OpenAI chat.completion answer from a scripted behaviour."""
    state = request.app[AGENTS_KEY]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return _openai_error(400, "request body is not JSON", "invalid_json")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
        return _openai_error(400, "'model' and 'messages' are required", "invalid_request")
    model = str(body["model"])
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    state.requests.append({
        "ts": time.time(), "model": model, "messages": messages,
        "params": {k: body.get(k) for k in ("temperature", "max_tokens", "response_format") if k in body},
        "has_auth": bool(request.headers.get("Authorization")),
    })
    behaviour, delay = _parse_model(model)
    if behaviour not in BEHAVIOURS:
        return _openai_error(404, f"The model `{model}` does not exist", "model_not_found")
    try:
        delay += float(request.headers.get("X-Sim-Delay") or request.query.get("delay") or 0)
    except ValueError:
        return _openai_error(400, "X-Sim-Delay / delay must be a number of seconds", "invalid_delay")
    if behaviour == "timeout":
        await _pause(state, request, state.max_wait_s)
        return _openai_error(504, "scripted-timeout gave up", "timeout", "server_error")
    if delay > 0 and not await _pause(state, request, delay):
        return _openai_error(503, "server shutting down or client gone", "unavailable", "server_error")
    if behaviour == "error":
        return _openai_error(500, "scripted provider failure", "internal_error", "server_error")
    user_text = "\n".join(m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str))
    try:
        content = _answer(behaviour, _context(messages), user_text)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        # A context the scripts cannot read (hand-written requests): answer like a cautious model.
        content = json.dumps(_vote("HOLD", 0.5, f"could not read the context: {type(exc).__name__}"))
    prompt_tokens = _tokens("".join(str(m.get("content", "")) for m in messages))
    completion_tokens = _tokens(content)
    return web.json_response({
        "id": f"chatcmpl-sim-{next(state.counter)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "stockbot-sim",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: the scripted behaviours, as OpenAI lists models."""
    names = sorted(f"scripted-{b}" for b in BEHAVIOURS)
    return web.json_response({"object": "list", "data": [
        {"id": n, "object": "model", "created": 0, "owned_by": "stockbot-sim"} for n in names]})


async def request_log(request: web.Request) -> web.Response:
    """``GET /_sim/agents/requests``: what the scripted endpoint received (prompts, no keys)."""
    return web.json_response(list(request.app[AGENTS_KEY].requests))


async def _on_shutdown(app: web.Application) -> None:
    # Releases scripted-timeout/slow handlers so the server's graceful shutdown never waits on them.
    app[AGENTS_KEY].shutdown.set()


def register(app: web.Application, *, max_wait_s: float = MAX_WAIT_S) -> None:
    """Add the scripted agent routes to ``app`` (called by the sim's build_app, or standalone)."""
    app[AGENTS_KEY] = ScriptedAgents(max_wait_s=max_wait_s)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/_sim/agents/requests", request_log)
    app.on_shutdown.append(_on_shutdown)


class AgentServer:
    """A standalone server with only the scripted agent routes (tests, benchmark, demo).

    ``async with AgentServer() as srv: srv.url`` -> "http://127.0.0.1:PORT"; LLM agents use
    ``api_base=srv.url + "/v1"``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_wait_s: float = MAX_WAIT_S):
        self.host, self.port, self.max_wait_s = host, port, max_wait_s
        self.url = ""
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self.app = web.Application()
        register(self.app, max_wait_s=self.max_wait_s)
        self._runner = web.AppRunner(self.app, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{self.host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def state(self) -> ScriptedAgents:
        assert self.app is not None, "server not started"
        return self.app[AGENTS_KEY]

    async def __aenter__(self) -> "AgentServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
