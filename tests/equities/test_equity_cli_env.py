"""The example env files are valid settings, and the operator commands work end to end on the sim:
``train`` (with a progress bar), ``screen``, ``picks``, ``grade`` for the full Nasdaq-100."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from stockbot.config import SECRET_KEYS, env_dir, known_env_keys, load_settings, memory_dir, read_env_file
from stockbot.strategies.equity.cli import add_subparser
from stockbot.strategies.equity.profiles import effective_params
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import run_in_thread

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("account", ["nasdaq100", "sp500"])
def test_example_env_files_are_real_settings(account):
    example = REPO / f".env.{account}.example"
    text = example.read_text()
    assert "chmod 640" in text  # the mode note
    values = read_env_file(example)  # refuses unknown keys
    assert set(values) <= set(known_env_keys())
    assert all(values[k] == "" for k in values if k in SECRET_KEYS)  # no key is ever committed
    target = env_dir() / f".env.{account}"
    target.write_text(text)
    target.chmod(0o640)
    s = load_settings(account, environ={})
    assert (s.strategy, s.equity.universe, s.equity.profile) == ("index", account, "max_aggro")
    p = effective_params(s)
    assert p.shorting and p.leverage == Decimal(2) and p.risk.daily_loss_limit == 1.0
    assert s.expect.multiplier == Decimal(2) and s.expect.shorting is True


@pytest.fixture
def sim_thread():
    running = run_in_thread(seed=2, always_open=True, start_at=T0, freeze=True,
                            accounts=[AccountSpec(key_id="SIMKEY_CLI", secret="SIMSECRET_CLI",
                                                  equity=Decimal(1_000_000))])
    yield running
    running.stop()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="stockbot")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_train_screen_picks_grade_commands(sim_thread, capsys):
    text = (REPO / ".env.nasdaq100.example").read_text()
    agents = [{"name": f"a{i}", "kind": "llm", "model": "openai/scripted-enter", "api_base": f"{sim_thread.url}/v1",
               "api_key": "sk-sim"} for i in range(3)]
    text = (text.replace("ALPACA_API_KEY=\n", "ALPACA_API_KEY=SIMKEY_CLI\n")
                .replace("ALPACA_SECRET_KEY=\n", f"ALPACA_SECRET_KEY=SIMSECRET_CLI\nALPACA_BASE_URL={sim_thread.url}\n"
                                                 f"AGENTS={json.dumps(agents)}\n"))
    path = env_dir() / ".env.nasdaq100"
    path.write_text(text)
    os.chmod(path, 0o600)

    assert run_cli("train", "--account", "nasdaq100", "--max-iter", "8", "--folds", "2") == 0
    out, err = capsys.readouterr()
    assert "trained nasdaq100 screener to 2026-11-17" in out and "walk-forward: auc" in out
    assert "training" in err and "final model" in err  # the tqdm progress bar
    assert (memory_dir("nasdaq100") / "models" / "screener-nasdaq100.json").exists()

    assert run_cli("screen", "--account", "nasdaq100", "--json") == 0
    screened = json.loads(capsys.readouterr().out)
    assert len(screened["ranked"]) >= 95 and {x["side"] for x in screened["slate"]} == {"long", "short"}
    assert run_cli("screen", "--account", "nasdaq100", "--top", "3") == 0
    assert "proposed slate: long" in capsys.readouterr().out

    assert run_cli("picks", "--account", "nasdaq100", "--no-email") == 0
    assert "picks written" in capsys.readouterr().out
    assert (memory_dir("nasdaq100") / "picks" / "2026-11-18.json").exists()

    assert run_cli("grade", "--account", "nasdaq100") == 0
    assert "0 day(s), 1 pending" in capsys.readouterr().out


def test_commands_refuse_a_condor_account(capsys):
    from stockbot.config import ConfigError

    path = env_dir() / ".env.spy"
    path.write_text("STRATEGY=condor\n")
    with pytest.raises(ConfigError, match="STRATEGY=equity or index"):
        run_cli("screen", "--account", "spy")
