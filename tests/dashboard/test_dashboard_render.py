"""The page as written: escaping, no secrets, a hash-pinned CSP, the CLI and the loopback server."""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stockbot.dashboard.cli import add_subparser
from stockbot.dashboard.data import collect_all
from stockbot.dashboard.markup import json_for_script
from stockbot.dashboard.render import RenderError, render_page, static_text, write_dashboard
from stockbot.dashboard.serve import ServeError, check_loopback, make_server, serve_in_thread
from stockbot.lessons.files import LessonStore
from stockbot.store import Store
from stockbot.config import account_paths


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Elements:
    p = Elements()
    p.feed(page)
    return p


def test_untrusted_text_is_escaped(hostile_sample):
    page = render_page(collect_all())
    doc = parse(page)
    assert not [t for t, _ in doc.tags if t in ("img", "iframe", "object", "embed")]
    scripts = [a for t, a in doc.tags if t == "script"]
    assert [a.get("type") for a in scripts] == ["application/json"] * 3 + [None]
    assert not any(k.startswith("on") for _, a in doc.tags for k in a)  # no event handler attributes
    visible = "".join(doc.text)
    for hostile in hostile_sample.values():
        assert hostile in visible  # shown literally...
    assert "<script>alert" not in page and "<img" not in page  # ...because it is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_json_for_script_cannot_close_the_element():
    data = {"x": "</script><script>alert(2)</script><!-- & \u2028"}
    text = json_for_script(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


SECRETS = {
    "ALPACA_API_KEY": "PKLIVEKEY9Z8Y7X6W5V4U",
    "ALPACA_SECRET_KEY": "qW3rTy-SeCrEt-9f8e7d6c5b4a3210zyxwvuts",
    "ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T000/B000/XXXXsecretXXXX",
    "ALERT_SMTP_PASSWORD": "smtp-pass-123456",
}


def test_no_secret_reaches_the_page(hostile_sample):
    env_dir = Path(os.environ["STOCKBOT_ENV_DIR"])
    agents = json.dumps([{"name": n, "kind": "rule", "model": n} for n in ("iv_rank", "trend")]
                        + [{"name": "analyst", "kind": "llm", "model": "openai/gpt-4o",
                            "api_key": "sk-agentKEY0123456789abcdef"}])
    body = "".join(f"{k}={v}\n" for k, v in SECRETS.items()) + f"AGENTS={agents}\n"
    for name in (".env.sp500", ".env.nasdaq"):
        (env_dir / name).write_text(body)
        (env_dir / name).chmod(0o600)
    # A secret that leaked into data the page shows: a lesson, a rationale, an event, an error.
    lessons = LessonStore("sp500")
    lessons.create(lessons.new_draft(title=f"key {SECRETS['ALPACA_API_KEY']} was logged",
                                     trigger=f"secret {SECRETS['ALPACA_SECRET_KEY']}"))
    with Store(account_paths("nasdaq")["state_db"]) as store:
        store.append_event("job_crash", {"job": "eod", "error": f"401 for {SECRETS['ALERT_SMTP_PASSWORD']}"})
        store.record_decision("condor-leak", strategy="condor", action="HOLD", params={},
                              reason=f"webhook {SECRETS['ALERT_WEBHOOK_URL']} sk-agentKEY0123456789abcdef")
    dash = collect_all()
    assert set(SECRETS.values()) | {"sk-agentKEY0123456789abcdef"} <= set(dash.secrets)
    page = render_page(dash)
    for secret in list(SECRETS.values()) + ["sk-agentKEY0123456789abcdef", "PKLIVEKEY", "agentKEY"]:
        assert secret not in page
    assert page.count("***REDACTED***") >= 5
    assert "hooks.example.com" not in page


def test_a_page_that_would_hold_a_secret_is_refused(sample, tmp_path):
    dash = collect_all()
    # Redaction covers data; this proves the final check also guards text that is not data.
    leaky = replace(dash, secrets=("stockbot dashboard",))
    with pytest.raises(RenderError, match="secret"):
        write_dashboard(tmp_path / "out", leaky)
    assert not (tmp_path / "out" / "index.html").exists()


def test_csp_pins_the_inline_script_and_style(sample):
    page = render_page(collect_all())
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    script = re.search(r"<script>(.*)</script>", page, re.S).group(1)
    style = re.search(r"<style>(.*)</style>", page, re.S).group(1)

    def h(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src '{h(script)}'" in csp and f"style-src '{h(style)}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert script == static_text("chart.js") + "\n" + static_text("app.js")
    # Self-contained: nothing is loaded from anywhere.
    assert not re.search(r"""(src|href)\s*=""", page)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stockbot")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_render_writes_the_page(sample, tmp_path, capsys):
    out = tmp_path / "site"
    assert _cli(["dashboard", "render", "--out", str(out)]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="panel-sp500"' in page and 'id="panel-nasdaq"' in page and 'id="panel-_default"' in page
    assert oct((out / "index.html").stat().st_mode & 0o777) == "0o644"
    assert "accounts: default, nasdaq, sp500" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # atomic replace left no temp file


def test_cli_render_exit_1_when_an_account_is_unreadable(sample, tmp_path, capsys):
    bad = account_paths("broken")["state_db"]
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"garbage" * 500)
    assert _cli(["dashboard", "render", "--out", str(tmp_path)]) == 1
    assert "account broken" in capsys.readouterr().err
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    panel = page[page.index('id="panel-broken"'):]
    assert 'data-i18n="account.unreadable"' in panel[:3000] and 'data-i18n="state.UNKNOWN"' in panel[:3000]


def test_serve_refuses_a_public_address(tmp_path):
    for host in ("0.0.0.0", "192.168.1.5", "example.com", "::"):
        with pytest.raises(ServeError, match="loopback only"):
            check_loopback(host)
    assert check_loopback("::1") == "::1" and check_loopback("localhost") == "127.0.0.1"
    with pytest.raises(ServeError, match="no such directory"):
        make_server(tmp_path / "missing", 0)
    assert _cli(["dashboard", "serve", "--dir", str(tmp_path / "missing"), "--port", "0"]) == 2


def test_server_serves_the_page_read_only(sample, tmp_path):
    write_dashboard(tmp_path / "site", collect_all())
    (tmp_path / "site" / "sub").mkdir()
    (tmp_path / "secret.txt").write_text("outside the served directory")
    server, url = serve_in_thread(tmp_path / "site")
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode()
            assert resp.status == 200 and "stockbot dashboard" in body
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["Cache-Control"] == "no-store"
        # A re-render within the same second as the last fetch must still be served in full.
        req = urllib.request.Request(url, headers={"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and len(resp.read()) > 10_000
        for path, code in (("sub/", 404), ("../secret.txt", 404), ("%2e%2e/secret.txt", 404)):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url + path, timeout=10)
            assert err.value.code == code, path
        req = urllib.request.Request(url + "index.html", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 405
    finally:
        server.shutdown()
        server.server_close()
