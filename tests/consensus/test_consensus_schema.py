"""Parsing agent answers: table tests and a fuzz test (any string -> a Vote, never an exception)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockbot.consensus.schema import MAX_ANSWER_CHARS, ParamBounds, Vote, parse_answer

B = ParamBounds()
ENTER = {"action": "ENTER", "confidence": 0.8, "rationale": "quiet",
         "condor": {"short_delta": 0.16, "wing_width": 5, "dte": 35}}
ENTER_JSON = json.dumps(ENTER)


def _with(**changes):
    d = json.loads(ENTER_JSON)
    for k, v in changes.items():
        if k in ("short_delta", "wing_width", "dte"):
            d["condor"][k] = v
        elif v is ...:
            d.pop(k)
        else:
            d[k] = v
    return json.dumps(d)


@pytest.mark.parametrize("raw, action, error_prefix", [
    (ENTER_JSON, "ENTER", None),
    ('{"action": "HOLD", "confidence": 0.5, "rationale": "meh"}', "HOLD", None),
    ("  \n" + ENTER_JSON + "\n ", "ENTER", None),
    ("```json\n" + ENTER_JSON + "\n```", "ENTER", None),
    ("Here is my vote:\n```json\n" + ENTER_JSON + "\n```\nGood luck!", "ENTER", None),
    ("Sure! My vote is " + ENTER_JSON + " -- hope that helps.", "ENTER", None),
    (ENTER_JSON + " trailing words", "ENTER", None),
    (_with(dte=35.0), "ENTER", None),  # integral float accepted for an integer
    # malformed / not extractable
    ("", "HOLD", "empty"),
    ("   ", "HOLD", "empty"),
    ("I think we should enter.", "HOLD", "no_json"),
    ('{"action": "ENTER", "confidence": 0.9', "HOLD", "invalid_json"),
    ("[1, 2, 3]", "HOLD", "no_json"),
    ('"ENTER"', "HOLD", "no_json"),
    ("first " + ENTER_JSON + " then " + ENTER_JSON, "HOLD", "ambiguous_json"),
    ("```json\n{}\n```\n```json\n" + ENTER_JSON + "\n```", "HOLD", "ambiguous_json"),
    ('{"note": {"x": 1}, broken ' + ENTER_JSON, "HOLD", "invalid_json"),
    ('Maybe {broken "stuff" here} but really ' + ENTER_JSON, "HOLD", "ambiguous_json"),
    ('{"action": "HOLD", "action": "ENTER", "confidence": 1, "rationale": "x"}', "HOLD", "invalid_json"),
    ('{"action": "ENTER", "confidence": NaN, "rationale": "x"}', "HOLD", "invalid_json"),
    ('{"action": "ENTER", "confidence": Infinity, "rationale": "x"}', "HOLD", "invalid_json"),
    ("x" * (MAX_ANSWER_CHARS + 1), "HOLD", "too_long"),
    ("{" * 5000, "HOLD", "invalid_json"),
    ("a {" * 300, "HOLD", "no_json"),
    # schema violations
    (_with(action="BUY"), "HOLD", "schema"),
    (_with(action="enter"), "HOLD", "schema"),
    (_with(confidence=1.5), "HOLD", "schema"),
    (_with(confidence=-0.1), "HOLD", "schema"),
    (_with(confidence="0.8"), "HOLD", "schema"),
    (_with(confidence=True), "HOLD", "schema"),
    (_with(rationale="x" * 501), "HOLD", "schema"),
    (_with(rationale=...), "HOLD", "schema"),
    (_with(extra_field=1), "HOLD", "schema"),
    (_with(dte=35.5), "HOLD", "schema"),
    (_with(dte="35"), "HOLD", "schema"),
    (_with(short_delta=0.5), "HOLD", "schema"),  # hard limit
    (_with(wing_width=-5), "HOLD", "schema"),
    ('{"action": "ENTER", "confidence": 0.9, "rationale": "x"}', "HOLD", "schema"),  # ENTER without params
    # account bounds (0.05..0.30 delta, 1..20 width, 7..60 DTE)
    (_with(short_delta=0.31), "HOLD", "out_of_bounds"),
    (_with(short_delta=0.04), "HOLD", "out_of_bounds"),
    (_with(wing_width=25), "HOLD", "out_of_bounds"),
    (_with(wing_width=0.5), "HOLD", "out_of_bounds"),
    (_with(dte=61), "HOLD", "out_of_bounds"),
    (_with(dte=6), "HOLD", "out_of_bounds"),
    (_with(short_delta=0.30, wing_width=20, dte=60), "ENTER", None),  # inclusive bounds
])
def test_parse_condor_table(raw, action, error_prefix):
    parsed = parse_answer(raw, strategy="condor", bounds=B)
    assert isinstance(parsed.vote, Vote)
    assert parsed.vote.action == action
    if error_prefix is None:
        assert parsed.error is None
    else:
        assert parsed.error is not None and parsed.error.startswith(error_prefix), parsed.error
        # The fail-closed vote carries the reason, and nothing else.
        assert parsed.vote.rationale == parsed.error[:500] and parsed.vote.condor is None


def _slate(*picks):
    return json.dumps({"action": "ENTER", "confidence": 0.7, "rationale": "picks",
                       "equity": {"slate": [dict(symbol=s, side=side, weight=w) for s, side, w in picks]}})


@pytest.mark.parametrize("raw, action, error_prefix", [
    (_slate(("AAPL", "long", 0.5), ("TSLA", "short", 0.5)), "ENTER", None),
    (_slate(("BRK.B", "long", 1.0)), "ENTER", None),
    (_slate(("AAPL", "long", 0.5), ("AAPL", "short", 0.5)), "HOLD", "schema"),  # one side per symbol
    (_slate(("aapl", "long", 0.5)), "HOLD", "schema"),
    (_slate(("AAPL; DROP", "long", 0.5)), "HOLD", "schema"),
    (_slate(("AAPL", "buy", 0.5)), "HOLD", "schema"),
    (_slate(("AAPL", "long", 1.5)), "HOLD", "schema"),
    (_slate(*[(f"S{i}", "long", 0.1) for i in range(6)]), "HOLD", "out_of_bounds"),  # max_slate 5
    (json.dumps({"action": "ENTER", "confidence": 0.7, "rationale": "x", "equity": {"slate": []}}), "HOLD", "schema"),
    (ENTER_JSON, "HOLD", "schema"),  # condor params in an equity decision
])
def test_parse_equity_table(raw, action, error_prefix):
    parsed = parse_answer(raw, strategy="equity", bounds=B)
    assert parsed.vote.action == action
    if error_prefix:
        assert parsed.error and parsed.error.startswith(error_prefix), parsed.error
    else:
        assert parsed.error is None


@pytest.mark.parametrize("raw", [None, 42, b"{}", ["x"]])
def test_non_text_answers_are_hold(raw):
    parsed = parse_answer(raw, strategy="condor", bounds=B)
    assert parsed.vote.action == "HOLD" and parsed.error.startswith("empty")


def _check(parsed, strategy):
    assert isinstance(parsed.vote, Vote)
    if parsed.error is not None:
        assert parsed.vote.action == "HOLD"
    elif parsed.vote.action == "ENTER":
        if strategy == "condor":
            c = parsed.vote.condor
            assert B.delta[0] <= c.short_delta <= B.delta[1]
            assert B.width[0] <= c.wing_width <= B.width[1]
            assert B.dte[0] <= c.dte <= B.dte[1]
        else:
            assert 1 <= len(parsed.vote.equity.slate) <= B.max_slate


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
vote_like = st.fixed_dictionaries(
    {"action": st.sampled_from(["ENTER", "HOLD", "enter", "X"]),
     "confidence": st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=3))},
    optional={"rationale": st.text(max_size=600),
              "condor": st.fixed_dictionaries({}, optional={"short_delta": st.floats(allow_nan=False),
                                                            "wing_width": st.floats(allow_nan=False),
                                                            "dte": st.integers() | st.floats(allow_nan=False)}),
              "extra": json_values},
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.text(max_size=400), strategy=st.sampled_from(["condor", "equity"]))
def test_fuzz_any_text(raw, strategy):
    _check(parse_answer(raw, strategy=strategy, bounds=B), strategy)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(vote_like, json_values), prefix=st.sampled_from(["", "Vote: ", "```json\n", "{"]),
       suffix=st.sampled_from(["", " thanks", "\n```", "}"]), strategy=st.sampled_from(["condor", "equity"]))
def test_fuzz_json_in_prose(obj, prefix, suffix, strategy):
    _check(parse_answer(prefix + json.dumps(obj) + suffix, strategy=strategy, bounds=B), strategy)
