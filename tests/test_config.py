"""Settings loading, account ids, memory_dir invariants and env-file safety."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from stockbot import config
from stockbot.config import ConfigError, account_paths, load_settings, memory_dir, validate_account_id

GOOD_IDS = ["a", "sp500", "nasdaq100", "demo", "acct_1", "x-y", "0", "a" * 32]
BAD_IDS = ["", "../x", "A B", "A", "-a", "_a", "a/b", "a" * 33, "a.b", "..", ".", "a\n", " a", "é"]


@pytest.mark.parametrize("account", GOOD_IDS)
def test_valid_account_ids(account):
    assert validate_account_id(account) == account


@pytest.mark.parametrize("account", BAD_IDS)
def test_invalid_account_ids_are_refused(account):
    with pytest.raises(ConfigError, match="invalid account id"):
        validate_account_id(account)
    with pytest.raises(ConfigError):
        memory_dir(account)


def test_memory_dir_default_is_exactly_the_root(isolated_roots):
    assert memory_dir(None) == Path(isolated_roots).resolve()
    assert memory_dir() == memory_dir(None)


def test_memory_dir_default_root_is_checkout_memory(monkeypatch):
    monkeypatch.delenv("STOCKBOT_MEMORY_ROOT")
    assert memory_dir(None) == Path(config.__file__).resolve().parent.parent / "memory"


def test_memory_dir_account_nests_under_accounts(isolated_roots):
    assert memory_dir("sp500") == Path(isolated_roots).resolve() / "accounts" / "sp500"


def test_every_writer_path_default_account_is_in_root(isolated_roots):
    root = Path(isolated_roots).resolve()
    for name, path in account_paths(None).items():
        # The default account's files live directly in the root (legacy layout), never under accounts/.
        assert path.parent == root, name
        assert "accounts" not in path.relative_to(root).parts, name


@pytest.mark.parametrize("account", ["sp500", "nasdaq100", "a"])
def test_every_writer_path_of_an_account_stays_in_its_dir(account):
    base = memory_dir(account)
    for name, path in account_paths(account).items():
        assert path.resolve().is_relative_to(base.resolve()), name
        others = [memory_dir(o) for o in ("sp500", "nasdaq100", "a") if o != account]
        assert not any(path.resolve().is_relative_to(o.resolve()) for o in others), name


def test_no_module_builds_memory_paths_by_hand():
    """Every writer gets its paths through config (memory_dir/account_paths), never literals."""
    pkg = Path(config.__file__).resolve().parent
    offenders = []
    pattern = re.compile(r"""["']memory/|/\s*["']memory["']|/\s*["']accounts["']|["']accounts["']\s*/|/\s*["']state\.db["']""")
    for py in pkg.rglob("*.py"):
        if py.name == "config.py":
            continue
        for lineno, line in enumerate(py.read_text().splitlines(), 1):
            # "isolation: ok" marks a line that builds a new memory ROOT (e.g. the demo's temp dir),
            # not a path inside an account; it must say why on the same line.
            if pattern.search(line) and not line.lstrip().startswith("#") and "isolation: ok" not in line:
                offenders.append(f"{py.relative_to(pkg)}:{lineno}: {line.strip()}")
    assert offenders == []


def write_env(envdir: Path, name: str, text: str, mode: int = 0o640) -> Path:
    path = Path(envdir) / name
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_loads_account_env_file_and_env_overrides(monkeypatch):
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env.sp500", "ALPACA_API_KEY=PKTESTKEY0000000001\nALPACA_SECRET_KEY=s3cr3t-value-xyz\n"
                                     "STRATEGY=index\nRISK_DAILY_LOSS_LIMIT=1.0\nEQUITY_UNIVERSE=sp500\n")
    s = load_settings("sp500")
    assert s.account == "sp500" and s.strategy == "index"
    assert s.alpaca.api_key.get_secret_value() == "PKTESTKEY0000000001"
    assert s.risk.daily_loss_limit == 1.0
    assert "s3cr3t-value-xyz" not in repr(s) and "s3cr3t-value-xyz" not in str(s.model_dump())
    monkeypatch.setenv("RISK_DAILY_LOSS_LIMIT", "0.02")
    assert load_settings("sp500").risk.daily_loss_limit == 0.02


def test_default_account_reads_dot_env():
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env", "STRATEGY=equity\n")
    write_env(envdir, ".env.other", "STRATEGY=index\n")
    assert load_settings(None).strategy == "equity"
    assert load_settings("other").strategy == "index"


def test_agents_json_list():
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env.x", 'AGENTS=[{"name":"a","kind":"llm","model":"openai/gpt-4o"},'
                                '{"name":"b","kind":"rule","model":"trend"},{"name":"c","kind":"rule","model":"range"}]\n')
    s = load_settings("x")
    assert [a.name for a in s.agents.agents] == ["a", "b", "c"]


@pytest.mark.parametrize("text, needle", [
    ("ALPACA_API_KEYY=abc\n", "unknown setting(s) ALPACA_API_KEYY"),
    ("RISK_MAX_ORDERS_PER_DAY=many\n", "RISK_MAX_ORDERS_PER_DAY"),
    ("RISK_DAILY_LOSS_LIMIT=1.5\n", "RISK_DAILY_LOSS_LIMIT"),
    ("STRATEGY=yolo\n", "STRATEGY"),
    ("ALPACA_BASE_URL=not a url\n", "ALPACA_BASE_URL"),
    ("this line has no equals\n", "not a KEY=value line"),
    ('AGENTS=[{"name":"a","kind":"llm","model":"m"}]\n', "at least 3 are required"),
    ('AGENTS=[{"name":"a","kind":"llm"\n', "AGENTS"),
    ("ALPACA_PAPER=false\nALPACA_BASE_URL=http://127.0.0.1:1234\n", "live"),
])
def test_broken_env_file_names_file_and_field(text, needle):
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    path = write_env(envdir, ".env.bad", text)
    with pytest.raises(ConfigError) as err:
        load_settings("bad")
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_a_line_without_equals_is_not_echoed_because_it_may_be_a_pasted_key():
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env.paste", "ALPACA_PAPER=true\nq8ZtW3mV7nR2pL5kX9cB1dF4gH6jK0sA\n")
    with pytest.raises(ConfigError) as err:
        load_settings("paste")
    assert ":2: not a KEY=value line" in str(err.value) and "q8Zt" not in str(err.value)


@pytest.mark.parametrize("mode, ok", [(0o600, True), (0o640, True), (0o644, False), (0o660, False),
                                      (0o666, False), (0o602, False), (0o604, False)])
def test_env_file_with_keys_must_not_be_exposed(mode, ok):
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    path = write_env(envdir, ".env.k", "ALPACA_API_KEY=PKABCDEFGHIJKLMNOP12\nALPACA_SECRET_KEY=zzzzzzzzzz\n", mode)
    if ok:
        assert load_settings("k").alpaca.api_key is not None
    else:
        with pytest.raises(ConfigError) as err:
            load_settings("k")
        assert f"chmod 640 {path}" in str(err.value)


def test_env_file_without_keys_may_be_world_readable():
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env.pub", "STRATEGY=condor\n", 0o644)
    assert load_settings("pub").strategy == "condor"


def test_require_broker_keys_names_missing_fields():
    s = load_settings("nokeys")
    with pytest.raises(ConfigError, match="ALPACA_API_KEY, ALPACA_SECRET_KEY"):
        config.require_broker_keys(s)


def test_env_example_documents_every_setting():
    example = Path(config.__file__).resolve().parent.parent / ".env.example"
    text = example.read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    missing = sorted(set(config.known_env_keys()) - documented - {"STOCKBOT_ACCOUNT"})
    assert missing == []


def test_env_example_itself_loads():
    example = Path(config.__file__).resolve().parent.parent / ".env.example"
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env.example-copy", example.read_text(), 0o600)
    s = load_settings("example-copy")
    assert s.strategy == "condor" and len(s.agents.agents) == 3


def test_readme_documents_every_setting():
    readme = (Path(config.__file__).resolve().parent.parent / "README.md").read_text()
    missing = sorted(k for k in config.known_env_keys() if f"`{k}`" not in readme and k != "STOCKBOT_ACCOUNT")
    assert missing == []


@pytest.mark.parametrize("name", [".env.nasdaq100.example", ".env.sp500.example"])
def test_account_env_examples_load(name):
    text = (Path(config.__file__).resolve().parent.parent / name).read_text()
    envdir = Path(os.environ["STOCKBOT_ENV_DIR"])
    write_env(envdir, ".env.x-example", text, 0o600)
    s = load_settings("x-example")
    assert s.strategy == "index" and s.equity.profile == "max_aggro" and s.risk.daily_loss_limit == 1.0


@pytest.mark.parametrize("kind", ["not-utf8", "directory"])
def test_unreadable_env_file_is_a_clear_config_error(kind):
    """Found by the chaos suite: these escaped as raw UnicodeDecodeError / IsADirectoryError."""
    path = Path(os.environ["STOCKBOT_ENV_DIR"]) / ".env.odd"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"STRATEGY=condor\nALPACA_API_KEY=\xff\xfe\x00bad\n")
        os.chmod(path, 0o600)
    with pytest.raises(ConfigError) as err:
        load_settings("odd")
    assert str(path) in str(err.value)
