"""Hypothesis fuzzing of the agents' answer parser, ``stockbot.consensus.schema.parse_answer``.

Properties, for every input:

* it never raises and always returns a ``Vote``; an answer it refuses is HOLD with a reason;
* an ENTER it returns has no error, passes the strict schema again and lies inside the bounds;
* an answer made of exactly one valid, in-bounds vote (bare, fenced, or inside prose) is read
  as that vote (fail-closed must not mean "always HOLD").

Inputs: arbitrary text; JSON values; vote-shaped objects with wrong types, extra keys, NaN-like
tokens and out-of-bound numbers; valid votes mutated at random (bytes flipped, cut, duplicated);
nesting bombs, huge numbers, brace floods and oversize answers; values that are not text at all.
The slowest single parse is reported (the parser must stay linear on hostile input).
"""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockbot.consensus.schema import ParamBounds, Vote, check_bounds, parse_answer

BOUNDS = ParamBounds(delta=(0.05, 0.30), width=(1.0, 20.0), dte=(7, 60), max_slate=5)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
good_condor = st.fixed_dictionaries({
    "short_delta": st.floats(0.05, 0.30), "wing_width": st.floats(1.0, 20.0), "dte": st.integers(7, 60)})
good_equity = st.fixed_dictionaries({"slate": st.lists(st.fixed_dictionaries({
    "symbol": st.from_regex(r"[A-Z]{1,5}", fullmatch=True), "side": st.sampled_from(["long", "short"]),
    "weight": st.floats(0, 1)}), min_size=1, max_size=5, unique_by=lambda p: p["symbol"])})
good_vote = st.one_of(
    st.fixed_dictionaries({"action": st.just("ENTER"), "confidence": st.floats(0, 1),
                           "rationale": st.text(max_size=200), "condor": good_condor}).map(lambda v: ("condor", v)),
    st.fixed_dictionaries({"action": st.just("ENTER"), "confidence": st.floats(0, 1),
                           "rationale": st.text(max_size=200), "equity": good_equity}).map(lambda v: ("equity", v)),
    st.fixed_dictionaries({"action": st.just("HOLD"), "confidence": st.floats(0, 1),
                           "rationale": st.text(max_size=200)}).map(lambda v: ("condor", v)),
)
vote_like = st.fixed_dictionaries(
    {"action": st.sampled_from(["ENTER", "HOLD", "enter", "BUY", "", None])},
    optional={"confidence": st.one_of(json_values, st.sampled_from([1e309, -1.0, 1.5, "0.9"])),
              "rationale": st.one_of(st.text(max_size=700), json_values),
              "condor": st.one_of(json_values, st.fixed_dictionaries({}, optional={
                  "short_delta": json_values | st.floats(), "wing_width": json_values | st.floats(),
                  "dte": json_values | st.floats()})),
              "equity": json_values, "extra_key": json_values},
)
hostile = st.sampled_from([
    "[" * 50_000, "[" * 15_000, "{" * 15_000, '{"a":' * 3000, '{"a":[' * 2500, "1" * 15_000, "{}" * 7000, "9e999999", "-0", "NaN", "Infinity",
    '{"action":"ENTER","action":"HOLD","confidence":1,"rationale":""}',
    '{"action":"HOLD","confidence":NaN,"rationale":""}', "x" * 20_000, "{} " * 2000, "```json\n{}\n```" * 50,
    '{"action":"ENTER","confidence":0.9,"rationale":"","condor":{"short_delta":0.1,"wing_width":5,"dte":30}}' * 2,
])
wrappers = st.sampled_from([("", ""), ("```json\n", "\n```"), ("Here is my vote: ", " Thanks."),
                            ("```\n", "\n```"), ("Reasoning...\n\n", "")])


def _dump(obj: Any, style: int) -> str:
    return json.dumps(obj) if style == 0 else json.dumps(obj, indent=2) if style == 1 else \
        json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _safe(parsed: Any, strategy: str) -> None:
    """The safety properties (see the module docstring)."""
    assert isinstance(parsed.vote, Vote), type(parsed.vote)
    if parsed.error is not None:
        assert parsed.vote.action == "HOLD", parsed
    if parsed.vote.action == "ENTER":
        assert parsed.error is None
        again = Vote.model_validate(parsed.vote.model_dump())
        assert check_bounds(again, strategy, BOUNDS) is None, parsed


class Fuzz:
    """Runs the property tests; counts examples and the slowest parse."""

    def __init__(self, examples: int):
        self.examples = examples
        self.calls = 0
        self.text_times: list[tuple[float, int]] = []  # (seconds, characters) of every text answer
        self.outcomes: dict[str, int] = {"ENTER": 0, "HOLD": 0, "HOLD with error": 0}

    def parse(self, raw: Any, strategy: str) -> Any:
        t0 = time.perf_counter()
        parsed = parse_answer(raw, strategy=strategy, bounds=BOUNDS)
        took = time.perf_counter() - t0
        self.calls += 1
        if isinstance(raw, str):
            self.text_times.append((took, len(raw)))
        key = "HOLD with error" if parsed.error else parsed.vote.action
        self.outcomes[key] += 1
        return parsed

    def properties(self) -> dict[str, Any]:
        cfg = settings(max_examples=self.examples, deadline=None, database=None, derandomize=True,
                       suppress_health_check=list(HealthCheck))
        strategies = st.sampled_from(["condor", "equity"])

        @cfg
        @given(raw=st.one_of(st.text(max_size=600), hostile, st.binary(max_size=200).map(
            lambda b: b.decode("latin-1"))), strategy=strategies)
        def any_text(raw: str, strategy: str) -> None:
            _safe(self.parse(raw, strategy), strategy)

        @cfg
        @given(obj=st.one_of(vote_like, json_values), wrap=wrappers, style=st.integers(0, 2), strategy=strategies)
        def shaped(obj: Any, wrap: tuple[str, str], style: int, strategy: str) -> None:
            _safe(self.parse(wrap[0] + _dump(obj, style) + wrap[1], strategy), strategy)

        @cfg
        @given(vote=good_vote, wrap=wrappers, style=st.integers(0, 2))
        def valid_is_read(vote: tuple[str, dict], wrap: tuple[str, str], style: int) -> None:
            strategy, obj = vote
            parsed = self.parse(wrap[0] + _dump(obj, style) + wrap[1], strategy)
            _safe(parsed, strategy)
            assert parsed.error is None and parsed.vote.action == obj["action"], parsed

        @cfg
        @given(vote=good_vote, cut=st.integers(0, 400), junk=st.text(max_size=3), mode=st.integers(0, 3))
        def mutated(vote: tuple[str, dict], cut: int, junk: str, mode: int) -> None:
            strategy, obj = vote
            text = json.dumps(obj)
            at = cut % (len(text) + 1)
            text = [text[:at], text[:at] + junk + text[at + 1:], text[:at] + text[at:] * 2, text[at:]][mode]
            _safe(self.parse(text, strategy), strategy)

        @cfg
        @given(raw=st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=50), json_values),
               strategy=strategies)
        def not_text(raw: Any, strategy: str) -> None:
            parsed = self.parse(raw if not isinstance(raw, str) else None, strategy)
            _safe(parsed, strategy)
            assert parsed.error is not None

        results: dict[str, str] = {}
        for test in (any_text, shaped, valid_is_read, mutated, not_text):
            try:
                test()
                results[test.__name__] = "passed"
            except Exception as exc:  # noqa: BLE001 - hypothesis re-raises the falsifying example's error
                results[test.__name__] = f"FAILED: {type(exc).__name__}: {str(exc)[:300]}"
        return results


def run_fuzz(examples: int = 500) -> dict[str, Any]:
    """Every property with ``examples`` examples each (derandomized: the same examples every run);
    returns counts (``bad`` must be zero)."""
    t0 = time.monotonic()
    fuzz = Fuzz(examples)
    results = fuzz.properties()
    failed = sum(1 for r in results.values() if r != "passed")
    times = sorted(fuzz.text_times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))][0] if times else 0.0
    slowest = times[-1] if times else (0.0, 0)
    return {"examples_per_property": examples, "parses": fuzz.calls, "properties": results,
            "outcomes": fuzz.outcomes, "parse_p99_ms": round(p99 * 1000, 3),
            "slowest_parse_ms": round(slowest[0] * 1000, 2), "slowest_parse_input_chars": slowest[1],
            "bad": {"failed_properties": failed},
            "ok": failed == 0, "wall_s": round(time.monotonic() - t0, 1)}
