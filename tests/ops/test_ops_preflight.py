"""The broker preflight: read-only checks against the local exchange, exit codes, alerts, no keys."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from opshelpers import KEY_A, KEY_B, SECRET_A, SECRET_B, methods, sim_env, write_env

from stockbot.config import AlpacaSettings, Settings
from stockbot.ops_cli import add_subparser
from stockbot.preflight import account_checks, endpoint_kind, mode_check, preflight

FAST = {"backoff_s": 0.01, "retries": 1}


def test_matching_account_passes_read_only(ops_sim, alerter, capsys):
    write_env("pfa", sim_env(ops_sim.url, extra="EXPECT_MIN_EQUITY=90000\nEXPECT_MULTIPLIER=2\n"
                                                 "EXPECT_SHORTING=true\nEXPECT_OPTIONS_LEVEL=3\n"))
    assert preflight("pfa", alerter=alerter, broker_kwargs=FAST) == 0
    out = capsys.readouterr()
    for row in ("keys work", "paper/live", "status", "not blocked", "equity", "multiplier", "shorting",
                "options level"):
        assert row in out.out
    assert "preflight pfa: OK" in out.out and " NO" not in out.out
    assert alerter.sent == []
    assert methods(ops_sim) == {"GET"}  # nothing placed, cancelled or closed
    assert KEY_A not in out.out + out.err and SECRET_A not in out.out + out.err


def test_mismatch_fails_with_alert_and_reads_only(ops_sim, alerter, capsys):
    write_env("pfb", sim_env(ops_sim.url, KEY_B, SECRET_B,
                             "EXPECT_MIN_EQUITY=1000000\nEXPECT_MULTIPLIER=2\nEXPECT_SHORTING=true\n"))
    assert preflight("pfb", alerter=alerter, broker_kwargs=FAST) == 1
    out = capsys.readouterr().out
    assert "FAILED: equity, multiplier, shorting, options level for condors" in out
    lines = {line.split()[0] + (" " + line.split()[1] if line.startswith("keys") else ""): line
             for line in out.splitlines() if line.strip()}
    assert lines["multiplier"].rstrip().endswith("NO") and "2" in lines["multiplier"]
    assert lines["keys work"].rstrip().endswith("yes")
    assert [k for k, _ in alerter.sent] == ["preflight_failed"]
    assert "multiplier: expected 2, got 1" in alerter.sent[0][1]
    assert methods(ops_sim) == {"GET"}


def test_wrong_keys_fail_as_keys_check(ops_sim, alerter, capsys):
    write_env("pfc", sim_env(ops_sim.url, "WRONGKEY123", "WRONGSECRET123"))
    assert preflight("pfc", alerter=alerter, broker_kwargs=FAST) == 1
    out = capsys.readouterr()
    keys_row = next(line for line in out.out.splitlines() if line.startswith("keys work"))
    assert "rejected by the broker" in keys_row and keys_row.rstrip().endswith("NO")
    assert alerter.sent and alerter.sent[0][0] == "preflight_failed"
    assert "WRONGSECRET123" not in out.out + out.err and "WRONGKEY123" not in out.out + out.err
    assert methods(ops_sim) == {"GET"}


def test_config_errors_exit_2_in_one_line(capsys, alerter):
    write_env("nokeys", "ALPACA_PAPER=true\n")
    assert preflight("nokeys", alerter=alerter) == 2
    err = capsys.readouterr().err
    assert "missing required setting(s) ALPACA_API_KEY, ALPACA_SECRET_KEY" in err and err.count("\n") == 1
    write_env("broken", "EXPECT_MULTIPLIER=lots\nALPACA_API_KEY=k\nALPACA_SECRET_KEY=s\n")
    assert preflight("broken", alerter=alerter) == 2
    assert "EXPECT_MULTIPLIER" in capsys.readouterr().err
    assert alerter.sent == []


@pytest.mark.parametrize("url,paper,kind,ok", [
    (None, True, "paper", True), (None, False, "live", True),
    ("https://paper-api.alpaca.markets", True, "paper", True),
    ("https://paper-api.alpaca.markets", False, "paper", False),
    ("https://api.alpaca.markets", True, "live", False),
    ("https://api.alpaca.markets", False, "live", True),
    ("http://127.0.0.1:8123", True, "sim", True), ("http://localhost:9", True, "sim", True),
    ("https://example.invalid", True, "unknown", False),
])
def test_paper_live_endpoint(url, paper, kind, ok):
    assert endpoint_kind(url, paper) == kind
    assert mode_check(Settings(alpaca=AlpacaSettings(base_url=url, paper=paper))).ok is ok


def test_blocked_or_inactive_account_fails():
    acct = SimpleNamespace(account_number="PA1", status="ACCOUNT_UPDATED", trading_blocked=True, account_blocked=False,
                           equity=Decimal("5"), multiplier=Decimal("4"), shorting_enabled=False, options_level=0)
    rows = {c.name: c for c in account_checks(Settings(), acct)}
    assert not rows["status"].ok and not rows["not blocked"].ok and rows["equity"].ok
    assert "trading blocked" in rows["not blocked"].actual
    # EXPECT_* unset: not checked; a condor account always needs level 3
    assert set(rows) == {"status", "not blocked", "equity", "options level for condors"}
    assert not rows["options level for condors"].ok


def test_cli_subcommand_and_script(ops_sim):
    write_env("pfd", sim_env(ops_sim.url))
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["preflight", "--account", "pfd"])
    assert args.func is not None and args.account == "pfd"
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(root / "scripts" / "broker_preflight.py"), "--account", "pfd"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120, cwd=root)
    assert res.returncode == 0, res.stderr
    assert "preflight pfd: OK" in res.stdout and KEY_A not in res.stdout + res.stderr
    assert methods(ops_sim) == {"GET"}


def test_condor_account_below_options_level_three_fails(ops_sim, alerter, capsys):
    """Production-defaults defect 8: level 2 cannot place spreads, so a condor account is refused
    whatever EXPECT_OPTIONS_LEVEL says (it is empty by default)."""
    write_env("pfl", sim_env(ops_sim.url, KEY_B, SECRET_B))
    assert preflight("pfl", alerter=alerter, broker_kwargs=FAST) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("options level for condors"))
    assert ">= 3 (STRATEGY=condor)" in row and row.rstrip().endswith("NO") and " 2 " in row
    write_env("pfm", sim_env(ops_sim.url, KEY_B, SECRET_B, "STRATEGY=equity\n"))
    capsys.readouterr()
    preflight("pfm", alerter=alerter, broker_kwargs=FAST)
    assert "options level for condors" not in capsys.readouterr().out
