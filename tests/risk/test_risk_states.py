"""Table tests for trading states and loss-limit arithmetic."""

from decimal import Decimal

import pytest

from stockbot.config import RiskSettings
from stockbot.risk.states import (StateInputs, TradingState, loss_limit_breached, loss_share, state_inputs,
                                  transition)

A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


@pytest.mark.parametrize(
    "inputs, state, n_reasons",
    [
        (StateInputs(), A, 0),
        (StateInputs(daily_loss_breached=True), R, 1),
        (StateInputs(weekly_loss_breached=True), R, 1),
        (StateInputs(out_of_capital=True), R, 1),
        (StateInputs(daily_loss_breached=True, weekly_loss_breached=True, out_of_capital=True), R, 3),
        (StateInputs(stop_flag=True), H, 1),
        (StateInputs(floor_breached=True), H, 1),
        (StateInputs(stop_flag=True, daily_loss_breached=True), H, 2),  # HALTED beats REDUCING
        (StateInputs(True, True, True, True, True), H, 5),
    ],
)
def test_transition(inputs, state, n_reasons):
    d = transition(inputs)
    assert d.state is state and len(d.reasons) == n_reasons and not d.changed
    assert d.state.allows_opening is (state is A)


@pytest.mark.parametrize("previous, changed", [(A, True), (R, False), (H, True), (None, False)])
def test_transition_changed(previous, changed):
    assert transition(StateInputs(out_of_capital=True), previous).changed is changed


@pytest.mark.parametrize(
    "start, now, limit, breached",
    [
        ("100000", "97000", 0.03, True),  # exactly 3%: reached
        ("100000", "97001", 0.03, False),
        ("100000", "120000", 0.03, False),  # gains never breach
        ("100000", "0", 1.0, False),  # 1.0 = 100% disables, even at a total loss
        ("100000", "-5000", 1.0, False),
        ("100000", "1", 0.999, True),
        ("0", "100", 0.03, True),  # unknown start fails closed
        ("0", "100", 1.0, False),
    ],
)
def test_loss_limit_breached(start, now, limit, breached):
    assert loss_limit_breached(Decimal(start), Decimal(now), limit) is breached


def test_loss_share():
    assert loss_share(Decimal(200), Decimal(150)) == pytest.approx(0.25)
    assert loss_share(Decimal(0), Decimal(150)) is None


@pytest.mark.parametrize(
    "settings, equity, sod, sow, stop, ooc, state",
    [
        (RiskSettings(), "100000", "100000", "100000", False, False, A),
        (RiskSettings(), "96000", "100000", "100000", False, False, R),  # daily 4% > 3%
        (RiskSettings(), "98000", "99000", "105000", False, False, R),  # weekly 6.7% > 6%
        (RiskSettings(daily_loss_limit=1.0, weekly_loss_limit=1.0), "50000", "100000", "100000", False, False, A),
        (RiskSettings(equity_floor=Decimal(25000)), "25000", "25000", "25000", False, False, H),
        (RiskSettings(daily_loss_limit=1.0, weekly_loss_limit=1.0), "0", "100000", "100000", False, False, H),
        (RiskSettings(), "100000", "100000", "100000", True, False, H),
        (RiskSettings(), "100000", "100000", "100000", False, True, R),
    ],
)
def test_state_inputs(settings, equity, sod, sow, stop, ooc, state):
    inputs = state_inputs(settings, stop_flag=stop, equity=Decimal(equity), start_of_day_equity=Decimal(sod),
                          start_of_week_equity=Decimal(sow), out_of_capital=ooc)
    assert transition(inputs).state is state
