"""The answer parser under hypothesis (bounded, derandomized): never raises, fails closed, and
still reads a well-formed vote; the suite's own counters see what ran."""

from __future__ import annotations

from stockbot.chaos.fuzz import run_fuzz


def test_parser_properties_hold_under_fuzzing():
    result = run_fuzz(examples=150)
    assert result["properties"] == dict.fromkeys(
        ("any_text", "shaped", "valid_is_read", "mutated", "not_text"), "passed")
    assert result["ok"] and result["bad"] == {"failed_properties": 0}
    # not vacuous: every property ran its examples, and both verdicts occurred
    assert result["parses"] >= 5 * 150
    assert result["outcomes"]["ENTER"] > 0 and result["outcomes"]["HOLD with error"] > 0
