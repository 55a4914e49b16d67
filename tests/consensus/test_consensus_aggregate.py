"""Supermajority and aggregation: pure table tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stockbot.consensus.aggregate import required_votes, tally
from stockbot.consensus.schema import CondorProposal, EquityParams, ParamBounds, SlatePick, Vote
from stockbot.domain import Action

B = ParamBounds()


@pytest.mark.parametrize("n, threshold, need", [
    (3, 2 / 3, 2), (4, 2 / 3, 3), (5, 2 / 3, 4), (6, 2 / 3, 4), (7, 2 / 3, 5), (9, 2 / 3, 6),
    (3, 1.0, 3), (3, 0.67, 3),  # the article's 0.67 actually demands 3 of 3
    (1, 2 / 3, 1), (2, 2 / 3, 2), (10, 0.75, 8), (100, 2 / 3, 67),
])
def test_required_votes(n, threshold, need):
    assert required_votes(n, threshold) == need


@pytest.mark.parametrize("n, threshold", [(0, 2 / 3), (3, 0.0), (3, 1.1)])
def test_required_votes_rejects_nonsense(n, threshold):
    with pytest.raises(ValueError):
        required_votes(n, threshold)


def E(delta=0.16, width=5.0, dte=35, conf=0.8):
    return Vote(action="ENTER", confidence=conf, rationale="e",
                condor=CondorProposal(short_delta=delta, wing_width=width, dte=dte))


H = Vote(action="HOLD", confidence=0.7, rationale="h")
FAIL = None


@pytest.mark.parametrize("votes, n, action, enter", [
    ([E(), E(), E()], 3, Action.ENTER, 3),
    ([E(), E(), H], 3, Action.ENTER, 2),
    ([E(), H, H], 3, Action.HOLD, 1),
    ([E(), E(), FAIL], 3, Action.ENTER, 2),
    ([E(), FAIL, FAIL], 3, Action.HOLD, 1),
    ([FAIL, FAIL, FAIL], 3, Action.HOLD, 0),
    ([E(), E()], 3, Action.ENTER, 2),  # third agent missing entirely: counts against, 2 still enough
    ([E()], 3, Action.HOLD, 1),
    ([], 3, Action.HOLD, 0),
    ([E(), E(), H, H], 4, Action.HOLD, 2),  # 2 of 4 < 3 needed
    ([E(), E(), E(), H], 4, Action.ENTER, 3),
    ([E(), E(), E(), FAIL, FAIL], 5, Action.HOLD, 3),  # failures count against: 3 of 5 < 4
    ([E(), E(), E(), E(), FAIL], 5, Action.ENTER, 4),
    # an ENTER without the strategy's parameters is not an ENTER
    ([E(), E(), Vote(action="ENTER", confidence=1, rationale="x",
                      equity=EquityParams(slate=[SlatePick(symbol="SPY", side="long", weight=1)]))], 3,
     Action.ENTER, 2),
])
def test_condor_supermajority(votes, n, action, enter):
    t = tally(votes, n_agents=n, threshold=2 / 3, strategy="condor", bounds=B)
    assert (t.action, t.enter_votes) == (action, enter)
    assert t.n_agents == n and t.required == required_votes(n, 2 / 3)
    assert (t.params != {}) == (action is Action.ENTER)


@pytest.mark.parametrize("votes, params", [
    ([E(0.10, 5, 30), E(0.20, 10, 45), E(0.16, 7, 35)], {"short_delta": 0.16, "wing_width": Decimal("7"), "dte": 35}),
    ([E(0.10, 5, 30), E(0.20, 10, 31), H], {"short_delta": 0.15, "wing_width": Decimal("7.5"), "dte": 31}),
    ([E(0.16, 5, 30), E(0.16, 5, 30), E(0.29, 19, 60)], {"short_delta": 0.16, "wing_width": Decimal("5"), "dte": 30}),
    # median of the agreeing agents only; a HOLD's numbers never leak in
    ([E(0.30, 20, 60), E(0.30, 20, 60), Vote(action="HOLD", confidence=0.1, rationale="x",
                                             condor=CondorProposal(short_delta=0.05, wing_width=1, dte=7))],
     {"short_delta": 0.30, "wing_width": Decimal("20"), "dte": 60}),
])
def test_condor_params_median(votes, params):
    t = tally(votes, n_agents=3, threshold=2 / 3, strategy="condor", bounds=B)
    assert t.action is Action.ENTER
    assert t.params == params


@pytest.mark.parametrize("votes, bounds, params", [
    # votes inside their hard limits but outside narrower account bounds: clamped
    ([E(0.40, 30, 90), E(0.45, 40, 120)], ParamBounds(), {"short_delta": 0.30, "wing_width": Decimal("20"), "dte": 60}),
    ([E(0.01, 0.5, 2), E(0.02, 0.5, 3)], ParamBounds(), {"short_delta": 0.05, "wing_width": Decimal("1"), "dte": 7}),
    ([E(0.2, 10, 40), E(0.2, 10, 40)], ParamBounds(delta=(0.1, 0.15), width=(2, 5), dte=(10, 30)),
     {"short_delta": 0.15, "wing_width": Decimal("5"), "dte": 30}),
])
def test_condor_params_clamped(votes, bounds, params):
    t = tally(votes, n_agents=3, threshold=2 / 3, strategy="condor", bounds=bounds)
    assert t.params == params


def test_too_many_votes_is_a_programming_error():
    with pytest.raises(ValueError):
        tally([E(), E(), E(), E()], n_agents=3, threshold=2 / 3, strategy="condor", bounds=B)


def S(*picks, conf=0.7):
    return Vote(action="ENTER", confidence=conf, rationale="s",
                equity=EquityParams(slate=[SlatePick(symbol=s, side=side, weight=w) for s, side, w in picks]))


UNIVERSE = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "QQQ")


@pytest.mark.parametrize("votes, slate, dropped_contains", [
    # all three agree on AAPL long; MSFT only twice -> still >= 2 of 3; NVDA once -> dropped
    ([S(("AAPL", "long", 0.4), ("MSFT", "long", 0.3), ("NVDA", "long", 0.3)),
      S(("AAPL", "long", 0.5), ("MSFT", "long", 0.5)),
      S(("AAPL", "long", 0.2))],
     [{"symbol": "AAPL", "side": "long", "weight": 0.4}, {"symbol": "MSFT", "side": "long", "weight": 0.4}],
     ["NVDA long: 1 of 2 needed"]),
    # same symbol, opposite sides: neither side reaches the threshold
    ([S(("TSLA", "long", 0.5)), S(("TSLA", "short", 0.5)), S(("AAPL", "long", 1.0))], [], ["TSLA long: 1 of 2 needed"]),
    # a symbol outside the allowed universe is dropped and recorded, however many agents want it
    ([S(("GME", "long", 0.9), ("AAPL", "long", 0.1)), S(("GME", "long", 0.9), ("AAPL", "long", 0.3)), H],
     [{"symbol": "AAPL", "side": "long", "weight": 0.2}], ["GME: not in the allowed universe"]),
    # HOLD voters' slates never count (they are not agreeing agents)
    ([S(("AMZN", "short", 0.5)), H, FAIL], [], []),
])
def test_equity_slates(votes, slate, dropped_contains):
    t = tally(votes, n_agents=3, threshold=2 / 3, strategy="equity", bounds=B, allowed_symbols=UNIVERSE)
    assert t.params.get("slate", []) == slate
    assert t.action is (Action.ENTER if slate else Action.HOLD)
    for d in dropped_contains:
        assert d in t.dropped


def test_equity_slate_limit_and_order():
    picks = [(s, "long", 0.1 * (i + 1)) for i, s in enumerate(UNIVERSE)]
    votes = [S(*picks), S(*picks), S(*picks)]
    t = tally(votes, n_agents=3, threshold=2 / 3, strategy="equity", bounds=ParamBounds(max_slate=3),
              allowed_symbols=UNIVERSE)
    assert [p["symbol"] for p in t.params["slate"]] == ["QQQ", "AMZN", "TSLA"]  # heaviest first
    assert any("beyond the slate limit" in d for d in t.dropped)


def test_equity_empty_universe_fails_closed():
    votes = [S(("AAPL", "long", 0.5))] * 3
    t = tally(votes, n_agents=3, threshold=2 / 3, strategy="equity", bounds=B, allowed_symbols=())
    assert t.action is Action.HOLD and "AAPL: not in the allowed universe" in t.dropped
