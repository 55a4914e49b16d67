"""The chaos suite's expiry section, short: every bad count 0 (no naked stock, no naked short, no
unbooked assignment, no trade left open, nothing reported as an orphan)."""

from __future__ import annotations

from stockbot.chaos.expiry import EVENTS, run_expiry_section


def test_expiry_section_rounds_end_clean(tmp_path):
    res = run_expiry_section(tmp_path, 8, seed=7, say=lambda _text: None)
    assert res["bad"] == {"naked stock (shares)": 0, "naked short options": 0,
                          "unbooked assignments/exercises/expiries": 0, "trades left open": 0,
                          "reported as orphans": 0, "broker liquidations not booked as such": 0}
    assert res["ok"] and res["activities"] > 0 and res["lessons"] > 0
    assert sum(res["events"][e] for e in EVENTS) == 8
