"""The operator CLI: STOP/resume, status, clear errors for bad input (never a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockbot import __version__
from stockbot.cli import main
from stockbot.config import memory_dir
from stockbot.flags import read_stop
from stockbot.store import Store


def test_version(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["--version"])
    assert ex.value.code == 0 and __version__ in capsys.readouterr().out


def test_stop_resume_cycle(capsys):
    assert main(["stop", "--account", "sp500", "--reason", "drawdown review"]) == 0
    flag = memory_dir("sp500") / "STOP"
    body = json.loads(flag.read_text())
    assert body["why"] == "drawdown review" and "@" in body["who"] and body["when"].endswith("+00:00")
    assert read_stop("sp500")["why"] == "drawdown review"
    assert read_stop("nasdaq100") is None  # isolation: another account is untouched
    assert main(["status", "--account", "sp500"]) == 0
    out = capsys.readouterr().out
    assert "HALTED" in out and "drawdown review" in out and "stop_flag_set" in out
    assert main(["resume", "--account", "sp500"]) == 0
    assert not flag.exists()
    assert main(["status", "--account", "sp500"]) == 0
    out = capsys.readouterr().out
    assert "not set" in out and "stop_flag_removed" in out


def test_unreadable_stop_flag_still_halts():
    path = memory_dir("x")
    path.mkdir(parents=True)
    (path / "STOP").write_text("{not json")
    assert "still halted" in read_stop("x")["why"]


def test_default_account_stop_flag_lives_in_root(isolated_roots):
    assert main(["stop"]) == 0
    assert (Path(isolated_roots) / "STOP").exists()
    assert not (Path(isolated_roots) / "accounts").exists()


def test_status_all_lists_each_account(capsys):
    for acc in ("a1", "b2"):
        with Store.for_account(acc) as s:
            s.append_event("hello", {"acc": acc})
    assert main(["status", "--all"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines()[2:4]]
    assert rows == ["a1", "b2"] and "all healthy" in out
    assert main(["status", "--all", "--details"]) == 0
    out = capsys.readouterr().out
    assert "== account a1" in out and "== account b2" in out


def _run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "stockbot.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("account", ["../x", "A B", ""])
def test_bad_account_id_is_one_clear_line(account):
    res = _run_cli("stop", "--account", account)
    assert res.returncode == 2
    assert "invalid account id" in res.stderr and "Traceback" not in res.stderr


def test_broken_env_file_stops_run_without_traceback():
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    (envdir / ".env.broken").write_text("RISK_MAX_ORDERS_PER_DAY=lots\nSURPRISE=1\n")
    res = _run_cli("run", "--account", "broken")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert str(envdir / ".env.broken") in res.stderr and "SURPRISE" in res.stderr


def test_run_exports_account_for_children(monkeypatch):
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    (envdir / ".env.kid").write_text("STRATEGY=condor\n")
    main(["run", "--account", "kid"])  # fails (no keys) after scoping the environment
    assert os.environ.get("STOCKBOT_ACCOUNT") == "kid"
    monkeypatch.delenv("STOCKBOT_ACCOUNT")
