"""Benchmark: how often a real local model's answer is a valid vote, with and without the schema.

SmolLM2-135M-Instruct on llama.cpp's server (extra ``llm``), reached through litellm exactly as an
agent of kind ``local``. Five variants over the same contexts (temperature 0, so one answer per
context and variant): the lean prompt with and without the vote's schema, and the full prompt with
and without it. Per variant: answers that are a JSON object, answers the strict parser accepts
(a valid vote; out-of-bound numbers are not), seconds per vote, tokens per vote. Also the cost of
one decision for priced providers, from litellm's local price map and the measured token counts.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from typing import Any, Literal

from stockbot.consensus.context import MarketContext, StrikeCandidate
from stockbot.consensus.litellm_setup import load_litellm
from stockbot.consensus.llm import LLMAgent
from stockbot.consensus.schema import ParamBounds

# Priced models a user might put in AGENTS, for the cost-per-decision table (litellm price map).
PRICED = ("openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash")


def contexts(n: int) -> list[MarketContext]:
    """``n`` different condor contexts: IV rank and trend vary, so the answers can differ."""
    out = []
    for i in range(n):
        trend = (-0.06, 0.0, 0.04, 0.1)[i % 4]
        closes = tuple(500.0 * (1 + trend * k / 40) + (k % 5) * 0.8 for k in range(41))
        spot = closes[-1]
        rows: tuple[tuple[Literal["call", "put"], int, float], ...] = (
            ("put", -25, -0.16), ("put", -20, -0.21), ("call", 20, 0.21), ("call", 25, 0.16))
        strikes = tuple(StrikeCandidate(right=r, strike=round(spot + off), delta=d, dte=35) for r, off, d in rows)
        out.append(MarketContext(strategy="condor", symbol="SPY", spot=spot, iv_rank=float(15 + (i * 17) % 80),
                                 iv=0.2, dte_candidates=(28, 35, 42), strikes=strikes, recent_closes=closes))
    return out


async def _variant(api_base: str, model: str, ctxs: list[MarketContext], *, lean: bool, schema: bool | str,
                   max_tokens: int) -> dict[str, Any]:
    agent = LLMAgent("bench", model, ParamBounds(), api_base=api_base, kind="local", timeout_s=120,
                     max_tokens=max_tokens, use_schema=schema, lean=lean)
    json_ok = valid = enter = 0
    secs, p_toks, c_toks, errors = [], [], [], []
    for ctx in ctxs:
        b = await agent.ballot(ctx)
        raw = b.call.raw if b.call is not None else None
        try:
            json_ok += isinstance(json.loads(raw or ""), dict)
        except ValueError:
            pass
        valid += b.error is None
        enter += b.error is None and b.vote.action == "ENTER"
        secs.append(b.latency_s)
        p_toks.append(b.prompt_tokens or 0)
        c_toks.append(b.completion_tokens or 0)
        if b.error:
            errors.append(b.error.split(":")[0])
    n = len(ctxs)
    return {"answers": n, "json_objects": json_ok, "valid_votes": valid, "valid_share": round(valid / n, 3),
            "enter_votes": enter, "median_s": round(statistics.median(secs), 2),
            "median_prompt_tokens": int(statistics.median(p_toks)),
            "median_completion_tokens": int(statistics.median(c_toks)),
            "errors": {k: errors.count(k) for k in sorted(set(errors))}}


def decision_cost(prompt_tokens: int, completion_tokens: int, n_agents: int = 3) -> dict[str, float | None]:
    """Dollars of one decision with ``n_agents`` agents of each priced model (None: no price known)."""
    litellm = load_litellm()
    out: dict[str, float | None] = {}
    for model in PRICED:
        try:
            p, c = litellm.cost_per_token(model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            out[model] = round((p + c) * n_agents, 6)
        except Exception:  # noqa: BLE001 - a model missing from this litellm's map
            out[model] = None
    return out


VARIANTS = (  # name, lean prompt?, schema (True = discrete enums, "range" = minimum/maximum, False = none)
    ("lean_schema_enums", True, True), ("lean_schema_ranges", True, "range"), ("lean_no_schema", True, False),
    ("full_schema_enums", False, True), ("full_no_schema", False, False),
)


async def measure_local(api_base: str, model: str = "smollm2-135m", *, n_lean: int = 6, n_full: int = 3,
                        max_tokens: int = 400) -> dict[str, Any]:
    """Every variant against the server at ``api_base``; the cost table from the full prompt's tokens."""
    out: dict[str, Any] = {}
    for name, lean, schema in VARIANTS:
        ctxs = contexts(n_lean if lean else n_full)
        out[name] = await _variant(api_base, model, ctxs, lean=lean, schema=schema, max_tokens=max_tokens)
    full = out["full_schema_enums"]
    out["cost_per_decision_3_agents_usd"] = {"openai/smollm2-135m (local)": 0.0,
                                             **decision_cost(full["median_prompt_tokens"],
                                                             full["median_completion_tokens"])}
    return out


def main() -> None:  # pragma: no cover - `python -m stockbot.consensus.local_bench` (used by scripts/bench.py)
    import socket

    from stockbot.config import LLMSettings
    from stockbot.llm_server import LocalServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with LocalServer.from_settings(LLMSettings(serve_port=port)) as server:
        result = asyncio.run(measure_local(server.api_base, server.alias))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
