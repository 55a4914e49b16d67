"""LLM agents: one litellm call per vote, strict parsing, every failure a recorded HOLD.

litellm is imported lazily (it is slow to import) and always offline-safe: the local model cost
map, no callbacks, no debug banners, no retries (a retry would blow the per-agent timeout; a
missed vote is a HOLD, which is the safe outcome anyway).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from stockbot.consensus.ballot import Ballot
from stockbot.consensus.budget import estimate_call
from stockbot.consensus.context import MarketContext
from stockbot.consensus.litellm_setup import load_litellm
from stockbot.consensus.ports import CallBudget
from stockbot.consensus.prompt import Prompt, build_prompt, redact
from stockbot.consensus.schema import ParamBounds, Vote, hold_vote, parse_answer
from stockbot.consensus.structured import format_label, lean_prompt, prompt_sha256, response_format
from stockbot.store_llm import LLMCall


def _usage(resp: Any) -> tuple[int | None, int | None]:
    usage = getattr(resp, "usage", None)
    if usage is None:
        return None, None
    p = getattr(usage, "prompt_tokens", None)
    c = getattr(usage, "completion_tokens", None)
    return (int(p) if isinstance(p, int) else None), (int(c) if isinstance(c, int) else None)


def _cost(litellm: ModuleType, resp: Any) -> float | None:
    hidden = getattr(resp, "_hidden_params", None) or {}
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if cost is None:
        try:
            cost = litellm.completion_cost(completion_response=resp)
        except Exception:  # noqa: BLE001 - unknown models have no price; that is not an error
            return None
    try:
        cost = float(cost)
    except (TypeError, ValueError):
        return None
    # litellm reports 0.0 for models it has no price for; that is "unknown", not "free".
    return cost if cost > 0 else None


# llama.cpp's server takes any key; litellm's OpenAI client refuses to send none.
LOCAL_API_KEY = "sk-no-key-local"


def local_model_name(model: str) -> str:
    """litellm name of a model behind an OpenAI-compatible local server: ``openai/<model>``."""
    return model if model.startswith("openai/") else f"openai/{model}"


class LLMAgent:
    """An agent that votes through ``litellm.acompletion`` (any provider litellm speaks).

    ``kind="local"`` is a llama.cpp server on loopback: the vote's schema goes inside
    ``json_object`` (enforced by a grammar; numbers as enums, since the grammar ignores ranges) and
    the prompt is the lean one. Every call, usable or
    not, comes back as an ``LLMCall`` on the ballot (raw text, tokens, cost, latency) so the runner
    can store it; with a ``budget`` a spent day is a HOLD without any call.

    ``api_key`` is passed to litellm only; it never enters a prompt, a log line or a stored reason
    (every known secret is redacted from prompts and error texts).
    """

    def __init__(self, name: str, model: str, bounds: ParamBounds, *, api_base: str | None = None,
                 api_key: str | None = None, timeout_s: float = 20.0, temperature: float = 0.0,
                 max_tokens: int = 400, secrets: Iterable[str] = (), kind: str = "llm", budget: CallBudget | None = None,
                 use_schema: bool | str = True, lean: bool | None = None):
        self.name = name
        self.kind = kind
        self.model = local_model_name(model) if kind == "local" else model
        self.bounds = bounds
        self.api_base = api_base
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.budget = budget
        self.use_schema = use_schema
        self.lean = kind == "local" if lean is None else lean  # the benchmark compares both prompts
        self._api_key = api_key or (LOCAL_API_KEY if kind == "local" else None)
        self._formats: dict[str, dict[str, Any]] = {}
        self._secrets = tuple({*secrets, *([api_key] if api_key else [])})
        load_litellm()  # pay the slow import at build time, not inside the first vote's timeout

    def __repr__(self) -> str:  # no key in reprs either
        return f"LLMAgent(name={self.name!r}, kind={self.kind!r}, model={self.model!r}, api_base={self.api_base!r})"

    async def vote(self, context: MarketContext) -> Vote:
        """The protocol method: the parsed vote (HOLD on any failure)."""
        return (await self.ballot(context)).vote

    def prompt_for(self, context: MarketContext) -> Prompt:
        if self.lean:
            return lean_prompt(context, self.bounds, secrets=self._secrets)
        return build_prompt(context, self.bounds, secrets=self._secrets)

    def estimated_call(self, context: MarketContext, reason: str, latency_s: float) -> LLMCall:
        """The charge of a call that never reported usage (cut off): the prompt plus all of max_tokens."""
        prompt = self.prompt_for(context)
        p_tok, c_tok, cost = estimate_call(load_litellm(), self.model, prompt.text(), self.max_tokens)
        return LLMCall(agent=self.name, model=self.model, prompt_sha256=prompt_sha256(prompt),
                       response_format=None, raw=None, prompt_tokens=p_tok, completion_tokens=c_tok,
                       cost_usd=cost, estimated=True, latency_s=latency_s, error=reason)

    async def ballot(self, context: MarketContext) -> Ballot:
        """Ask the model once and return the vote with its metadata (latency, tokens, cost, hash)."""
        litellm = load_litellm()
        t0 = time.monotonic()
        if self.budget is not None:
            spent = await self.budget.check()
            if spent:
                return Ballot(agent=self.name, model=self.model, kind=self.kind, vote=hold_vote(spent),
                              latency_s=time.monotonic() - t0, error=spent)
        strategy = "condor" if context.is_condor else "equity"
        prompt = self.prompt_for(context)
        p_hash = prompt_sha256(prompt)
        fmt = self._formats.get(strategy)
        if fmt is None:  # once per strategy: litellm's capability lookup is not free
            fmt = self._formats[strategy] = response_format(self.kind, self.model, strategy, self.bounds,
                                                            use_schema=self.use_schema)
        kwargs: dict[str, Any] = dict(
            model=self.model, messages=prompt.messages(), timeout=self.timeout_s, temperature=self.temperature,
            max_tokens=self.max_tokens, response_format=fmt, drop_params=True,
            num_retries=0, max_retries=0,
        )
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key

        def failed(reason: str, *, estimate: bool) -> Ballot:
            reason = redact(reason, self._secrets)[:300]
            latency = time.monotonic() - t0
            if estimate:  # no usage reported: charge what the call could have cost
                p_tok, c_tok, cost = estimate_call(litellm, self.model, prompt.text(), self.max_tokens)
            else:  # refused before generating (connection refused, 4xx): the prompt at most
                p_tok, c_tok, cost = None, None, None
            call = LLMCall(agent=self.name, model=self.model, prompt_sha256=p_hash, response_format=format_label(fmt),
                           raw=None, prompt_tokens=p_tok, completion_tokens=c_tok, cost_usd=cost,
                           estimated=estimate, latency_s=latency, error=reason)
            self._charge(call)
            return Ballot(agent=self.name, model=self.model, kind=self.kind, vote=hold_vote(reason),
                          latency_s=latency, error=reason, prompt_tokens=p_tok, completion_tokens=c_tok,
                          cost_usd=cost, call=call)

        try:
            # litellm's own timeout is not a hard bound on every code path; wait_for is.
            resp = await asyncio.wait_for(litellm.acompletion(**kwargs), timeout=self.timeout_s)
        except (TimeoutError, litellm.Timeout):
            return failed(f"timeout: no answer within {self.timeout_s:g}s", estimate=True)
        except Exception as exc:  # noqa: BLE001 - any transport/provider error is a HOLD
            first = (str(exc).strip().splitlines() or [""])[0]
            return failed(f"transport: {type(exc).__name__}: {first}", estimate=False)
        latency = time.monotonic() - t0
        try:
            raw = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raw = None
        parsed = parse_answer(raw, strategy=strategy, bounds=self.bounds)
        p_tok, c_tok = _usage(resp)
        cost = _cost(litellm, resp)
        call = LLMCall(agent=self.name, model=self.model, prompt_sha256=p_hash, response_format=format_label(fmt),
                       raw=raw if isinstance(raw, str) else None, prompt_tokens=p_tok, completion_tokens=c_tok,
                       cost_usd=cost, estimated=False, latency_s=latency, error=parsed.error)
        self._charge(call)
        return Ballot(
            agent=self.name, model=self.model, kind=self.kind, vote=parsed.vote, latency_s=latency,
            error=parsed.error, prompt_tokens=p_tok, completion_tokens=c_tok, cost_usd=cost,
            raw_sha256=hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest() if isinstance(raw, str) else None,
            call=call,
        )

    def _charge(self, call: LLMCall) -> None:
        if self.budget is not None:
            self.budget.charge(call)


__all__ = ["LOCAL_API_KEY", "LLMAgent", "load_litellm", "local_model_name"]
