"""Structured output: the vote's JSON Schema, and how each provider is asked to honour it.

- llama.cpp's server (agent kind ``local``) takes the schema inside ``json_object`` and enforces it
  with a grammar (it refuses ``json_schema``). Its grammar ignores ``minimum``/``maximum``, so local
  agents get the numbers as enums of in-bound values (the "discrete" schema);
- providers litellm knows to support response schemas (OpenAI, Gemini, Anthropic via tools...) get
  ``json_schema``;
- everything else gets ``json_object`` and relies on the strict parser alone.

A schema only shapes the answer: numbers may still be out of the account's bounds (grammars do not
enforce every keyword), so ``parse_answer`` checks every answer the same way and out-of-bound
numbers are a HOLD. Small local models also get a lean prompt (a few hundred tokens rather than a
thousand): the full one made SmolLM2-135M run into the token cap on every answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from stockbot.consensus.context import MarketContext, price_action
from stockbot.consensus.litellm_setup import load_litellm
from stockbot.consensus.prompt import Prompt, redact
from stockbot.consensus.schema import ParamBounds

# Rationale length asked for in schemas: short, because every token of it costs time and money.
SCHEMA_RATIONALE_CHARS = 120


def _grid(lo: float, hi: float, n: int, digits: int) -> list[float]:
    """``n`` evenly spaced values in [lo, hi], rounded, and only those the rounding left inside."""
    raw = [lo] if hi <= lo else [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    inside = sorted({v for v in (round(x, digits) for x in raw) if lo <= v <= hi})
    return inside or [lo]


def condor_choices(bounds: ParamBounds) -> dict[str, list[Any]]:
    """A few allowed values per condor number, all inside ``bounds`` (for grammar-enforced enums)."""
    widths = _grid(bounds.width[0], bounds.width[1], 5, 0)
    return {"short_delta": _grid(bounds.delta[0], bounds.delta[1], 6, 2),
            "wing_width": [int(w) if float(w).is_integer() else w for w in widths],
            "dte": [int(d) for d in _grid(bounds.dte[0], bounds.dte[1], 5, 0)]}


def vote_schema(strategy: str, bounds: ParamBounds, *, discrete: bool = False) -> dict[str, Any]:
    """JSON Schema of one vote for ``strategy`` ('condor' or an equity strategy) under ``bounds``.

    ``discrete``: numbers as enums of in-bound values instead of ``minimum``/``maximum``. llama.cpp's
    grammar enforces enums but not numeric ranges, and a 135M model writes deltas like -1.54: with
    enums every number it can produce is inside the bounds."""
    base: dict[str, Any] = {
        "action": {"type": "string", "enum": ["ENTER", "HOLD"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "rationale": {"type": "string", "maxLength": SCHEMA_RATIONALE_CHARS},
    }
    if strategy == "condor":
        if discrete:
            choices = condor_choices(bounds)
            numbers: dict[str, dict[str, Any]] = {k: {"enum": v} for k, v in choices.items()}
            base["confidence"] = {"enum": [0.1, 0.3, 0.5, 0.7, 0.9]}
        else:
            numbers = {
                "short_delta": {"type": "number", "minimum": bounds.delta[0], "maximum": bounds.delta[1]},
                "wing_width": {"type": "number", "minimum": bounds.width[0], "maximum": bounds.width[1]},
                "dte": {"type": "integer", "minimum": bounds.dte[0], "maximum": bounds.dte[1]},
            }
        base["condor"] = {
            "type": "object",
            "properties": numbers,
            "required": ["short_delta", "wing_width", "dte"],
            "additionalProperties": False,
        }
        params = "condor"
    else:
        pick = {
            "type": "object",
            "properties": {
                "symbol": {"type": "string", "pattern": "^[A-Z][A-Z0-9.]{0,9}$"},
                "side": {"type": "string", "enum": ["long", "short"]},
                "weight": ({"enum": [0.1, 0.2, 0.3, 0.5]} if discrete
                           else {"type": "number", "minimum": 0, "maximum": 1}),
            },
            "required": ["symbol", "side", "weight"],
            "additionalProperties": False,
        }
        base["equity"] = {
            "type": "object",
            "properties": {"slate": {"type": "array", "items": pick, "minItems": 1, "maxItems": bounds.max_slate}},
            "required": ["slate"],
            "additionalProperties": False,
        }
        params = "equity"
    return {"type": "object", "properties": base, "required": ["action", "confidence", "rationale", params],
            "additionalProperties": False}


def response_format(kind: str, model: str, strategy: str, bounds: ParamBounds, *,
                    use_schema: bool | str = True) -> dict[str, Any]:
    """The ``response_format`` to send for this agent (see the module doc for the rules).

    ``use_schema``: True (local agents: the discrete schema), "range" (local: min/max numbers, for
    the benchmark), False (``json_object`` only)."""
    if not use_schema:
        return {"type": "json_object"}
    if kind == "local":
        return {"type": "json_object", "schema": vote_schema(strategy, bounds, discrete=use_schema is True)}
    schema = vote_schema(strategy, bounds)
    if supports_schema(model):
        return {"type": "json_schema", "json_schema": {"name": "vote", "schema": schema, "strict": False}}
    return {"type": "json_object"}


def supports_schema(model: str) -> bool:
    """Whether litellm knows ``model``'s provider to honour a response schema (False when unsure)."""
    litellm = load_litellm()
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:  # noqa: BLE001 - unknown model: json_object and the strict parser
        return False


def format_label(fmt: dict[str, Any]) -> str:
    """A short name of a response format for the audit trail: json_schema, json_object+schema, json_object."""
    if fmt.get("type") == "json_object" and "schema" in fmt:
        return "json_object+schema"
    return str(fmt.get("type"))


def lean_prompt(ctx: MarketContext, bounds: ParamBounds, *, secrets: Iterable[str] = ()) -> Prompt:
    """A short prompt for small local models: the few numbers that matter, no strike table, no prose.

    Lessons and market text are left out on purpose: a 135M-parameter model cannot weigh them, and
    every untrusted byte left out is one that cannot steer it.
    """
    d, w, t = bounds.delta, bounds.width, bounds.dte
    data: dict[str, Any] = {"symbol": ctx.symbol, "spot": ctx.spot, "iv_rank": ctx.iv_rank,
                            "price_action": price_action(ctx.recent_closes)}
    if ctx.is_condor:
        data["dte_candidates"] = list(ctx.dte_candidates)[:6]
        ask = (f"Should we open a {ctx.symbol} iron condor now? Answer with JSON: action ENTER or HOLD, "
               f"confidence 0-1, a one-sentence rationale, and condor with short_delta in [{d[0]}, {d[1]}], "
               f"wing_width in [{w[0]:g}, {w[1]:g}] and dte in [{t[0]}, {t[1]}].")
    else:
        allowed = set(ctx.allowed_symbols)
        cands = sorted((c for c in ctx.candidates if c.symbol in allowed), key=lambda c: -abs(c.score))[:10]
        data["candidates"] = [{"symbol": c.symbol, "score": c.score} for c in cands]
        ask = (f"Should we trade this long/short slate now? Answer with JSON: action ENTER or HOLD, confidence "
               f"0-1, a one-sentence rationale, and equity.slate of at most {bounds.max_slate} picks "
               "(symbol from the candidates, side long or short, weight 0-1).")
    context_json = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    system = "You are a cautious options analyst. Reply with one JSON object only. When in doubt, HOLD."
    user = f"Market: {context_json}\n{ask}"
    return Prompt(system=redact(system, secrets), user=redact(user, secrets), lessons_used=(),
                  context_json=context_json)


def prompt_sha256(prompt: Prompt) -> str:
    """The hash that identifies a prompt in the audit trail and for replay."""
    return hashlib.sha256(prompt.text().encode("utf-8")).hexdigest()
