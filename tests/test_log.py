"""Secret redaction: keys set in Settings never appear in any log output."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest

from stockbot import log
from stockbot.cli import main
from stockbot.config import load_settings

API_KEY = "PKZ9Q8W7E6R5T4Y3U2I1"
SECRET = "sEcReT/abcdefghijklmnopqrstuvwxyz0123456789"


def _env(account: str = "acct") -> Path:
    path = Path(os.environ["STOCKBOT_ENV_DIR"]) / f".env.{account}"
    path.write_text(f"ALPACA_API_KEY={API_KEY}\nALPACA_SECRET_KEY={SECRET}\n"
                    "ALERT_WEBHOOK_URL=http://127.0.0.1:9/T000/B000/XXXXXXXXXXXX\n")
    os.chmod(path, 0o600)
    return path


def test_json_lines_with_account_and_redaction():
    _env()
    s = load_settings("acct")
    out = io.StringIO()
    log.configure("acct", stream=out, json_lines=True, secrets=s.secrets())
    lg = log.get_logger("t")
    lg.info("startup", key=API_KEY, note=f"connecting with {API_KEY}:{SECRET}")
    lg.warning("nested", details={"headers": {"APCA-API-SECRET-KEY": SECRET, "ok": "fine"}}, items=[SECRET])
    try:
        raise RuntimeError(f"401 for key {API_KEY} secret {SECRET}")
    except RuntimeError:
        lg.exception("broker.error")
    logging.getLogger("alpaca").warning("raw stdlib line %s", SECRET)
    text = out.getvalue()
    assert API_KEY not in text and SECRET not in text
    assert "/T000/B000/XXXXXXXXXXXX" not in text
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    assert all(line["account"] == "acct" for line in lines)
    assert any("RuntimeError" in line.get("exception", "") for line in lines)
    assert log.REDACTED in text


@pytest.mark.parametrize("text", [
    "key PKABCDEFGHIJKLMNOPQRST leaked", "Authorization: Bearer abc.def-ghi_jkl123456", "sk-proj-abcdefghij0123456789",
])
def test_credential_shapes_are_redacted_even_if_unknown(text):
    assert log.REDACTED in log.Redactor().scrub(text)


def test_cli_errors_and_startup_do_not_leak_keys(capsys):
    path = _env("leaky")
    # A closed loopback port: start-up fails at the broker check, never reaching the internet.
    path.write_text(path.read_text() + "ALPACA_BASE_URL=http://127.0.0.1:9\n")
    log.configure("leaky", stream=io.StringIO())
    rc = main(["run", "--account", "leaky"])  # start-up runs until the broker check refuses
    captured = capsys.readouterr()
    assert rc != 0
    assert API_KEY not in captured.out + captured.err and SECRET not in captured.out + captured.err
