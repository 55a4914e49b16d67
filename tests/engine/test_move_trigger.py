"""The stream triggers management: a quote of the underlying within CONDOR_MANAGE_TRIGGER_PCT of
an open condor's short strike asks for a pass now, at most once per debounce window."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stockbot.config import CondorSettings
from stockbot.domain import OptionRight, Quote
from stockbot.options.condor import condor_from_symbols
from stockbot.options.occ import occ_symbol
from stockbot.store import Store
from stockbot.strategies.condor.move_trigger import REFRESH_S, MoveTrigger, near_short_strike
from stockbot.strategies.condor.trades import record_open

EXP = date(2026, 12, 18)
T = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("spot, shorts, pct, expected", [
    ("600", ["590", "610"], 1.0, None),          # 1.67 % from both: outside the shipped 1 %
    ("595", ["590", "610"], 1.0, "590"),         # 0.84 % above the short put
    ("606.5", ["590", "610"], 1.0, "610"),       # 0.58 % below the short call
    ("611", ["590", "610"], 1.0, "610"),         # through the strike: still near it
    ("600", ["590", "610"], 2.0, "590"),         # a wider zone; a tie goes to the first listed (the put)
    ("600", ["590", "610"], 0.0, None),          # 0 disables the trigger
    ("600", [], 1.0, None),                      # nothing open
])
def test_near_short_strike_table(spot, shorts, pct, expected):
    got = near_short_strike(Decimal(spot), [Decimal(k) for k in shorts], pct)
    assert got == (None if expected is None else Decimal(expected))


class Ticks:
    """A monotonic clock the test moves by hand (the trigger takes its clock injected)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _open_condor(store: Store, short_put: int, short_call: int) -> None:
    legs = [occ_symbol("SPY", EXP, OptionRight.PUT, Decimal(short_put - 5)),
            occ_symbol("SPY", EXP, OptionRight.PUT, Decimal(short_put)),
            occ_symbol("SPY", EXP, OptionRight.CALL, Decimal(short_call)),
            occ_symbol("SPY", EXP, OptionRight.CALL, Decimal(short_call + 5))]
    condor = condor_from_symbols(legs, Decimal("1.20"))
    record_open(store, structure_id=f"c-{short_put}", condor=condor, qty=Decimal(1), credit=Decimal("1.20"),
                client_order_id=f"cid-{short_put}", opened=T)


def _quote(mid: str) -> Quote:
    m = Decimal(mid)
    return Quote("SPY", m - Decimal("0.01"), m + Decimal("0.01"), T)


def test_trigger_fires_near_a_short_strike_once_per_debounce_window(tmp_path):
    store = Store(tmp_path / "state.db")
    ticks = Ticks()
    trigger = MoveTrigger(store, CondorSettings(), ticks)  # the shipped 1 % and 60 s
    assert not trigger.on_quote(_quote("595"))  # nothing open yet
    _open_condor(store, 590, 610)
    assert not trigger.on_quote(_quote("595"))  # the open trades are cached for REFRESH_S
    ticks.t += REFRESH_S
    assert trigger.on_quote(_quote("595")) and trigger.last_strike == Decimal(590)
    for _ in range(20):  # a price sitting at the strike does not turn every quote into a pass
        ticks.t += 1
        assert not trigger.on_quote(_quote("591"))
    ticks.t += 60
    assert trigger.on_quote(_quote("591"))
    ticks.t += 61
    assert not trigger.on_quote(_quote("600"))  # back in the middle: no pass
    assert not trigger.on_quote(Quote("QQQ", Decimal("589"), Decimal("591"), T))  # another symbol
    assert not trigger.on_quote(Quote("SPY", Decimal("0"), Decimal("591"), T))  # a one-sided quote
    store.close()


def test_trigger_is_off_at_zero_and_sees_a_new_condor_after_forget(tmp_path):
    store = Store(tmp_path / "state.db")
    ticks = Ticks()
    assert not MoveTrigger(store, CondorSettings(manage_trigger_pct=0), ticks).on_quote(_quote("590"))
    trigger = MoveTrigger(store, CondorSettings(), ticks)
    assert not trigger.on_quote(_quote("620"))
    _open_condor(store, 600, 618)
    trigger.forget()  # management just ran (a fill or a close changes what to watch)
    assert trigger.on_quote(_quote("620")) and trigger.last_strike == Decimal(618)
    store.close()
