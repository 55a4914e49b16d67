"""Key refund after a paper reset: only the two key lines change, atomically; failure restores exactly."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from opshelpers import KEY_A, KEY_B, SECRET_A, SECRET_B, methods, write_env

from stockbot.refund import new_mode, refund, replace_keys

FAST = {"backoff_s": 0.01, "retries": 1}


def _env(url: str, key: str, secret: str) -> str:
    # Comments, blank lines, CRLF on one line, quoting, an inline comment and export: all must survive.
    return (f"# account rf: paper equity (account B has options level 2)\n\nSTRATEGY=equity\nALPACA_API_KEY={key}\r\n"
            f"RISK_MAX_ORDERS_PER_DAY=12  # tuned\n"
            f"export ALPACA_SECRET_KEY=\"{secret}\"   # reset 2026-01\n"
            f"ALPACA_PAPER=true\nALPACA_BASE_URL={url}\n# trailing comment without newline")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mode", [0o640, 0o600])
def test_success_rewrites_only_the_keys(ops_sim, alerter, capsys, mode):
    path = write_env("rf", _env(ops_sim.url, KEY_A, SECRET_A), mode)
    before = path.read_bytes()
    assert refund("rf", KEY_B, SECRET_B, alerter=alerter, broker_kwargs=FAST) == 0
    after = path.read_bytes()
    expected = before.replace(KEY_A.encode(), KEY_B.encode()).replace(SECRET_A.encode(), SECRET_B.encode())
    assert after == expected  # every other byte identical
    assert _mode(path) == mode
    out = capsys.readouterr()
    assert "preflight rf: OK" in out.out and "updated" in out.out
    for secret in (KEY_A, KEY_B, SECRET_A, SECRET_B):
        assert secret not in out.out + out.err
    assert methods(ops_sim) == {"GET"}
    assert alerter.sent == []
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_wrong_keys_restore_the_file_exactly(ops_sim, alerter, capsys):
    path = write_env("rf", _env(ops_sim.url, KEY_A, SECRET_A), 0o600)
    before = path.read_bytes()
    rc = refund("rf", "NOTAREALKEY99", "NOTAREALSECRET99", alerter=alerter, broker_kwargs=FAST)
    assert rc == 1
    assert path.read_bytes() == before and _mode(path) == 0o600
    out = capsys.readouterr()
    assert "restored" in out.err
    for secret in (KEY_A, SECRET_A, "NOTAREALKEY99", "NOTAREALSECRET99"):
        assert secret not in out.out + out.err
    assert [k for k, _ in alerter.sent] == ["preflight_failed"]
    assert methods(ops_sim) == {"GET"}


def test_loose_mode_is_tightened_and_restored_on_failure(ops_sim, alerter):
    path = write_env("rf", _env(ops_sim.url, KEY_A, SECRET_A), 0o644)
    before = path.read_bytes()
    assert refund("rf", KEY_B, SECRET_B, alerter=alerter, broker_kwargs=FAST) == 0
    assert _mode(path) == 0o640
    path.write_bytes(before)
    os.chmod(path, 0o644)
    assert refund("rf", "BADKEY000", "BADSECRET000", alerter=alerter, broker_kwargs=FAST) == 1
    assert path.read_bytes() == before and _mode(path) == 0o644  # the old file, exactly


def test_config_errors_write_nothing(capsys, alerter):
    assert refund("nofile", "K1234567", "S1234567", alerter=alerter) == 2
    assert "no such env file" in capsys.readouterr().err
    path = write_env("rf", "ALPACA_API_KEY=old\nALPACA_SECRET_KEY=old\n")
    before = path.read_bytes()
    assert refund("rf", "bad key\nSTRATEGY=equity", "S1234567", alerter=alerter) == 2
    err = capsys.readouterr().err
    assert "not a valid Alpaca key" in err and "STRATEGY=equity" not in err
    assert path.read_bytes() == before and alerter.sent == []


def test_replace_keys_appends_missing_and_modes():
    assert replace_keys("A=1\nALPACA_API_KEY=x", {"ALPACA_API_KEY": "y", "ALPACA_SECRET_KEY": "z"}) == \
        "A=1\nALPACA_API_KEY=y\nALPACA_SECRET_KEY=z\n"
    assert replace_keys("ALPACA_API_KEY_OLD=1\n# ALPACA_API_KEY=x\n", {"ALPACA_API_KEY": "y"}) == \
        "ALPACA_API_KEY_OLD=1\n# ALPACA_API_KEY=x\nALPACA_API_KEY=y\n"
    assert replace_keys("ALPACA_API_KEY='x' # c\n", {"ALPACA_API_KEY": "y"}) == "ALPACA_API_KEY='y' # c\n"
    assert [new_mode(m) for m in (0o644, 0o640, 0o600, 0o400, 0o666)] == [0o640, 0o640, 0o600, 0o400, 0o640]


def test_script_never_prints_keys(ops_sim):
    path = write_env("rfs", _env(ops_sim.url, KEY_A, SECRET_A))
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(root / "scripts" / "account_refund.py"), "--account", "rfs",
                          "--key", KEY_B, "--secret", SECRET_B], capture_output=True, text=True,
                         env=dict(os.environ), timeout=120, cwd=root)
    assert res.returncode == 0, res.stderr
    assert KEY_B in path.read_text() and SECRET_B in path.read_text()
    for secret in (KEY_A, KEY_B, SECRET_A, SECRET_B):
        assert secret not in res.stdout + res.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the env file another owner/group (as on a host)")
def test_refund_keeps_owner_group_and_mode_and_says_restart(ops_sim, alerter, capsys):
    """Production-defaults defect 5: the atomic rewrite made root:stockbot 0640 root:root 0640,
    so the service (group stockbot) could no longer read its own env file."""
    path = write_env("rfo", _env(ops_sim.url, KEY_A, SECRET_A), 0o640)
    os.chown(path, 0, 4242)  # root:<the service's group>
    assert refund("rfo", KEY_B, SECRET_B, alerter=alerter, broker_kwargs=FAST) == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid, _mode(path)) == (0, 4242, 0o640)
    out = capsys.readouterr().out
    assert "systemctl restart stockbot@rfo" in out and "still holds the old keys" in out
    # a failed refund restores owner and group too
    assert refund("rfo", "NOTAREALKEY99", "NOTAREALSECRET99", alerter=alerter, broker_kwargs=FAST) == 1
    st = path.stat()
    assert (st.st_uid, st.st_gid, _mode(path)) == (0, 4242, 0o640)
