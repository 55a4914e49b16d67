"""Alerts through apprise reach a local webhook receiver and a local SMTP server; the older
ALERT_WEBHOOK_URL / ALERT_SMTP_* settings map onto apprise; rate limit; no secret leaks."""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes, policy

import pytest
from aiohttp import web
from pydantic import SecretStr

from stockbot import log
from stockbot.alerts import Alerter, email_url, last_alert, send_email, split_urls, targets, url_secrets, webhook_url
from stockbot.config import AlertSettings, load_settings, memory_dir
from stockbot.store import Store


@pytest.fixture
async def webhook():
    received: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook/{token}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}", received
    await runner.cleanup()


async def test_webhook_and_email_with_rate_limit(webhook, smtp):
    hostport, received = webhook
    port, sink = smtp
    settings = AlertSettings(webhook_url=SecretStr(f"http://{hostport}/hook/SECRETTOKEN123456"),
                             smtp_host="127.0.0.1", smtp_port=port,
                             email_from="bot@localhost", email_to="ops@localhost", min_interval_s=300)
    log.redactor().add(["PKLEAKEDKEY000000000"])
    now = [1000.0]
    alerter = Alerter(settings, "sp500", clock=lambda: now[0])
    res = await alerter.send("orphan", "closed naked short SPY put; key PKLEAKEDKEY000000000")
    assert set(res.sent) == {"webhook", "email"} and not res.errors
    # the old webhook's field: Slack-compatible receivers read "text"
    assert received and "orphan" in received[0]["text"] and "sp500" in received[0]["text"]
    assert "PKLEAKEDKEY000000000" not in json.dumps(received[0])
    await asyncio.sleep(0)
    msg = message_from_bytes(sink.messages[0], policy=policy.default)
    assert msg["To"] == "ops@localhost" and msg["From"] == "bot@localhost" and "orphan" in msg["Subject"]
    assert "closed naked short SPY put" in msg.get_content() and "PKLEAKEDKEY" not in msg.get_content()
    # same kind within the interval: suppressed; another kind: sent
    assert (await alerter.send("orphan", "again")).suppressed
    assert not (await alerter.send("halt", "STOP flag")).suppressed
    now[0] += 301
    assert not (await alerter.send("orphan", "later")).suppressed
    assert len(received) == 3 and len(sink.messages) == 3
    assert alerter.counts == {("orphan", "sent"): 2, ("orphan", "suppressed"): 1, ("halt", "sent"): 1}


async def test_alert_urls_reach_every_target_and_tokens_are_redacted(webhook, smtp, capsys):
    hostport, received = webhook
    port, sink = smtp
    token = "BOTTOKEN123456789abc"
    urls = (f"json://{hostport}/hook/{token}, "
            f"mailto://127.0.0.1:{port}?from=bot@localhost&to=a@localhost,b@localhost")
    alerter = Alerter(AlertSettings(urls=SecretStr(urls)), "acct1")
    assert [t.channel for t in alerter.targets] == ["json", "mailto"]
    res = await alerter.send("halt", f"daily loss limit hit; leaked {token}")
    assert res.sent == ("json", "mailto") and not res.errors
    assert received[0]["message"].startswith("[stockbot acct1] halt: daily loss limit hit")
    assert token not in json.dumps(received[0])
    assert len(sink.messages) == 2  # one per recipient
    assert token not in capsys.readouterr().out  # the log line of the alert


async def test_broken_channel_never_raises_and_its_error_has_no_token():
    settings = AlertSettings(webhook_url=SecretStr("http://127.0.0.1:9/nothing/SECRETTOKEN999999"),
                             urls=SecretStr("notaservice://whatever"))
    res = await Alerter(settings, None).send("job_crash", "boom")
    assert res.sent == () and len(res.errors) == 2
    assert res.errors[0].startswith("webhook:") and "SECRETTOKEN999999" not in res.errors[0]
    assert "not an apprise URL" in res.errors[1]


def test_old_settings_map_onto_apprise_urls():
    # a generic webhook: a JSON post with Slack's "text" field, TLS kept
    assert webhook_url("https://hooks.example.org/x/y") == "jsons://hooks.example.org/x/y?:message=text"
    # a Discord webhook: apprise's native Discord service
    discord = "https://discord.com/api/webhooks/123456789/abcdefghijklmnop"
    assert webhook_url(discord) == discord
    s = AlertSettings(smtp_host="smtp.example.org", smtp_user="me@example.org", smtp_password=SecretStr("p@ss/w0rd"),
                      email_to="ops@example.org")
    url = email_url(s)
    assert url.startswith("mailtos://me%40example.org:p%40ss%2Fw0rd@smtp.example.org:587?")
    assert "mode=starttls" in url and "to=ops@example.org" in url and "from=stockbot@smtp.example.org" in url
    assert email_url(s.model_copy(update={"smtp_port": 465})).endswith("mode=ssl")
    assert email_url(s.model_copy(update={"smtp_port": 25})).startswith("mailto://")
    assert "p%40ss%2Fw0rd" in url_secrets(url) and "p@ss/w0rd" in url_secrets(url)
    assert [t.channel for t in targets(s)] == ["email"]
    assert split_urls("tgram://a/b,ntfy://topic  json://h/p?x=1,2,") == \
        ["tgram://a/b", "ntfy://topic", "json://h/p?x=1,2"]
    assert "p%40ss" not in repr(targets(s))


def test_shipped_env_example_has_no_target_and_alerter_stays_quiet(tmp_path, monkeypatch):
    from pathlib import Path

    import stockbot

    example = Path(stockbot.__file__).resolve().parent.parent / ".env.example"
    monkeypatch.setenv("STOCKBOT_ENV_DIR", str(tmp_path))
    (tmp_path / ".env").write_text(example.read_text())
    (tmp_path / ".env").chmod(0o600)
    settings = load_settings(None)
    alerter = Alerter(settings.alerts, None)
    assert alerter.targets == []
    res = asyncio.run(alerter.send("halt", "nothing configured"))
    assert res.sent == () and res.errors == ()
    assert alerter.counts == {("halt", "no_target"): 1}  # still counted: the metric shows it went nowhere


async def test_last_alert_is_kept_in_the_account_dir_only_when_it_exists(webhook):
    hostport, _ = webhook
    settings = AlertSettings(urls=SecretStr(f"json://{hostport}/hook/x"))
    await Alerter(settings, "ghost").send("halt", "no directory")
    assert not memory_dir("ghost").exists() and last_alert("ghost") is None
    Store.for_account("real").close()
    await Alerter(settings, "real").send("floor_breach", "equity 49,000 below floor 50,000")
    rec = last_alert("real")
    assert rec["kind"] == "floor_breach" and rec["channels"] == ["json"] and rec["ts"]
    assert not (memory_dir(None) / "last_alert.json").exists()  # nothing in another account's directory


def test_send_email_keeps_utf8_subject_and_body(smtp):
    port, sink = smtp
    s = AlertSettings(smtp_host="127.0.0.1", smtp_port=port, email_from="bot@localhost", email_to="dad@localhost")
    send_email(s, "选股 picks", "Longs:\n  1. AAPL\n做多：\n")
    msg = message_from_bytes(sink.messages[0], policy=policy.default)
    assert msg["Subject"] == "选股 picks" and "做多：" in msg.get_content() and "AAPL" in msg.get_content()
    with pytest.raises(RuntimeError):
        send_email(s.model_copy(update={"smtp_port": 9}), "x", "y")
