"""The vote schema and the parser that turns an agent's raw answer into a ``Vote``.

Fail closed: whatever an agent answers (prose, truncated JSON, two JSON objects, numbers out of
bounds, NaN, duplicate keys, a megabyte of text), ``parse_answer`` returns a valid ``Vote``; when
the answer cannot be trusted that vote is HOLD and the reason is returned beside it. It never
raises (a hypothesis fuzz test holds it to that).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stockbot.errors import StockbotError
from stockbot.config import CondorSettings, EquitySettings

MAX_ANSWER_CHARS = 16_000
MAX_RATIONALE_CHARS = 500
MAX_SLATE_HARD = 50
DEFAULT_MAX_SLATE = 5  # picks per slate when no equity settings say otherwise
# Scanning prose for JSON objects is quadratic in the worst case; past this many '{' we give up.
MAX_BRACE_CANDIDATES = 200

SYMBOL_RE = r"^[A-Z][A-Z0-9.]{0,9}$"


class _Strict(BaseModel):
    """Strict parsing: unknown keys, strings for numbers, bools for numbers, NaN/inf all refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class CondorProposal(_Strict):
    """Iron condor parameters one agent proposes in its vote (hard limits here; account bounds in
    ``ParamBounds``). Not the builder's ``options.condor.CondorParams``: the tally's median of these
    proposals is clamped into that by ``clamp_params``."""

    short_delta: float = Field(gt=0, lt=0.5)
    wing_width: float = Field(gt=0, le=100)
    dte: int = Field(ge=1, le=365)

    @field_validator("dte", mode="before")
    @classmethod
    def _integral_float(cls, v: Any) -> Any:
        # Models often write 30.0; accept integral floats, nothing fractional and never bools.
        if isinstance(v, float) and not isinstance(v, bool) and v.is_integer():
            return int(v)
        return v


class SlatePick(_Strict):
    """One equity pick: a symbol, long or short, and a weight in 0..1."""

    symbol: str = Field(pattern=SYMBOL_RE)
    side: Literal["long", "short"]
    weight: float = Field(ge=0, le=1)


class EquityParams(_Strict):
    """An equity slate; a symbol may appear once (one side)."""

    slate: list[SlatePick] = Field(min_length=1, max_length=MAX_SLATE_HARD)

    @model_validator(mode="after")
    def _unique(self) -> EquityParams:
        symbols = [p.symbol for p in self.slate]
        if len(set(symbols)) != len(symbols):
            raise ValueError("a symbol appears more than once in the slate")
        return self


class Vote(_Strict):
    """One agent's vote. ENTER must carry the parameters of the strategy being decided."""

    action: Literal["ENTER", "HOLD"]
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(max_length=MAX_RATIONALE_CHARS)
    condor: CondorProposal | None = None
    equity: EquityParams | None = None


def hold_vote(reason: str) -> Vote:
    """A HOLD vote standing in for an agent that failed; the reason goes into the rationale."""
    return Vote(action="HOLD", confidence=0.0, rationale=reason[:MAX_RATIONALE_CHARS])


@dataclass(frozen=True, slots=True)
class ParamBounds:
    """Hard bounds for proposed parameters, from the account's settings."""

    delta: tuple[float, float] = (0.05, 0.30)
    width: tuple[float, float] = (1.0, 20.0)
    dte: tuple[int, int] = (7, 60)
    max_slate: int = DEFAULT_MAX_SLATE

    @classmethod
    def from_settings(cls, condor: CondorSettings, equity: EquitySettings | None = None) -> ParamBounds:
        return cls(
            delta=(float(condor.delta_bounds[0]), float(condor.delta_bounds[1])),
            width=(float(condor.width_bounds[0]), float(condor.width_bounds[1])),
            dte=(int(condor.dte_bounds[0]), int(condor.dte_bounds[1])),
            max_slate=min(MAX_SLATE_HARD, equity.top_k) if equity is not None else DEFAULT_MAX_SLATE,
        )

    def as_dict(self) -> dict[str, Any]:
        return {"short_delta": list(self.delta), "wing_width": list(self.width), "dte": list(self.dte),
                "max_slate": self.max_slate}


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """The parser's result: always a vote; ``error`` set means the vote is a fail-closed HOLD."""

    vote: Vote
    error: str | None = None


class _Reject(StockbotError):
    """Internal: the answer is not a usable vote; the message is the recorded reason.

    Caller: skip (the vote becomes a HOLD with this reason).
    """


def _no_constants(name: str) -> Any:
    raise _Reject(f"invalid_json: non-finite number {name}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"action":"HOLD","action":"ENTER"} must not silently become ENTER.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Reject(f"invalid_json: duplicate key {k[:40]!r}")
        out[k] = v
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n(.*?)```", re.DOTALL)


def _loads(text: str) -> Any:
    try:
        obj, end = _DECODER.raw_decode(text)
    except RecursionError:
        raise _Reject("invalid_json: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _Reject(f"invalid_json: {exc.msg} at position {exc.pos}") from None
    if text[end:].strip():
        raise _Reject(f"invalid_json: extra data at position {end}")
    return obj


def extract_json_object(raw: str) -> dict[str, Any]:
    """Return the one JSON object in ``raw`` or raise ``_Reject`` with the reason.

    Accepted: a bare object; exactly one fenced ```json block; prose around exactly one object.
    Two or more candidate objects are ambiguous and refused: we never guess which one was meant.
    """
    text = raw.strip()
    if not text:
        raise _Reject("empty: no answer")
    if text[0] == "{":
        try:
            obj = _loads(text)
        except _Reject as exc:
            # A bare object that fails is malformed, unless it is prose that merely starts with '{'.
            if "extra data" not in str(exc):
                raise
        else:
            if isinstance(obj, dict):
                return obj
    fences = _FENCE_RE.findall(text)
    if len(fences) > 1:
        raise _Reject(f"ambiguous_json: {len(fences)} fenced blocks")
    if len(fences) == 1:
        obj = _loads(fences[0].strip())
        if not isinstance(obj, dict):
            raise _Reject("schema: fenced JSON is not an object")
        return obj
    found: list[dict[str, Any]] = []
    failed = 0
    pos, tries = 0, 0
    while True:
        start = text.find("{", pos)
        if start < 0:
            break
        tries += 1
        if tries > MAX_BRACE_CANDIDATES:
            raise _Reject("no_json: too many '{' to scan safely")
        try:
            obj, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError, _Reject):
            # The scan goes on inside the broken text, so a later "object" may be a fragment of it.
            failed += 1
            pos = start + 1
            continue
        if isinstance(obj, dict):
            found.append(obj)
        pos = end
    if not found:
        raise _Reject("no_json: no JSON object in the answer")
    if len(found) > 1:
        raise _Reject(f"ambiguous_json: {len(found)} JSON objects in the answer")
    if failed:
        # e.g. '{"a": {"action": "ENTER", ...}, broken': the inner object is not what was meant.
        raise _Reject("ambiguous_json: broken JSON beside the object")
    return found[0]


def _explain(exc: ValidationError) -> str:
    errs = exc.errors()
    if not errs:
        return "schema: vote: invalid"
    first = errs[0]
    loc = ".".join(str(p) for p in first["loc"]) or "vote"
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"schema: {loc}: {first['msg']}{more}"[:300]


def check_bounds(vote: Vote, strategy: str, bounds: ParamBounds) -> str | None:
    """Why an ENTER vote is unusable for ``strategy`` under ``bounds`` (None when it is fine)."""
    if vote.action != "ENTER":
        return None
    if strategy == "condor":
        p = vote.condor
        if p is None:
            return "schema: ENTER without condor parameters"
        if not bounds.delta[0] <= p.short_delta <= bounds.delta[1]:
            return f"out_of_bounds: short_delta {p.short_delta} not in {list(bounds.delta)}"
        if not bounds.width[0] <= p.wing_width <= bounds.width[1]:
            return f"out_of_bounds: wing_width {p.wing_width} not in {list(bounds.width)}"
        if not bounds.dte[0] <= p.dte <= bounds.dte[1]:
            return f"out_of_bounds: dte {p.dte} not in {list(bounds.dte)}"
        return None
    e = vote.equity
    if e is None:
        return "schema: ENTER without an equity slate"
    if len(e.slate) > bounds.max_slate:
        return f"out_of_bounds: slate of {len(e.slate)} exceeds {bounds.max_slate}"
    return None


def parse_answer(raw: Any, *, strategy: str, bounds: ParamBounds) -> ParsedAnswer:
    """Parse an agent's raw answer into a vote; anything untrustworthy becomes HOLD with a reason."""
    try:
        if not isinstance(raw, str):
            raise _Reject(f"empty: answer is {type(raw).__name__}, not text")
        if len(raw) > MAX_ANSWER_CHARS:
            raise _Reject(f"too_long: {len(raw)} characters (limit {MAX_ANSWER_CHARS})")
        obj = extract_json_object(raw)
        try:
            vote = Vote.model_validate(obj)
        except ValidationError as exc:
            raise _Reject(_explain(exc)) from None
        problem = check_bounds(vote, strategy, bounds)
        if problem:
            raise _Reject(problem)
        return ParsedAnswer(vote=vote)
    except _Reject as exc:
        reason = str(exc)
        return ParsedAnswer(vote=hold_vote(reason), error=reason)
    except Exception as exc:  # noqa: BLE001 - the parser must never raise; fail closed instead
        reason = f"parser_error: {type(exc).__name__}"
        return ParsedAnswer(vote=hold_vote(reason), error=reason)
