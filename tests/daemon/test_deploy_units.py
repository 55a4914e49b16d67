"""The systemd units: verified by ``systemd-analyze verify`` where it exists, and the directives
the daemon relies on checked statically; the OnFailure alert command sends and records."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from stockbot import config
from stockbot.daemon import EXIT_CONFIG, EXIT_REFUSED
from stockbot.daemon.jobs import Timings
from stockbot.sdnotify import account_of_unit, alert_main
from stockbot.store import Store

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = ("stockbot@.service", "stockbot-alert@.service", "stockbot-dashboard.service",
         "stockbot-dashboard-render.service", "stockbot-dashboard.timer")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value (systemd allows repeated keys such as Environment=)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        assert section is not None, f"{path.name}: {line!r} outside a section"
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


def one(unit: dict, section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key} given {len(values)} times"
    return values[0]


def test_daemon_unit_directives():
    u = parse_unit(DEPLOY / "stockbot@.service")
    s = "Service"
    assert one(u, s, "Type") == "notify" and one(u, s, "NotifyAccess") == "main"
    watchdog = int(one(u, s, "WatchdogSec"))
    assert watchdog == 90 and Timings().health_every_s <= watchdog / 2
    assert one(u, s, "Restart") == "on-failure"
    no_restart = one(u, s, "RestartPreventExitStatus").split()
    assert str(EXIT_CONFIG) in no_restart and str(EXIT_REFUSED) not in no_restart
    assert int(one(u, "Unit", "StartLimitIntervalSec")) > 0 and int(one(u, "Unit", "StartLimitBurst")) > 0
    assert one(u, "Unit", "OnFailure") == "stockbot-alert@%N.service"
    assert one(u, s, "User") == "stockbot" and one(u, s, "Group") == "stockbot"
    assert one(u, s, "WorkingDirectory") == "/opt/stockbot"
    env = dict(v.split("=", 1) for v in u[s]["Environment"])
    assert env["STOCKBOT_ENV_DIR"] == "/etc/stockbot" and env["STOCKBOT_MEMORY_ROOT"] == "/var/lib/stockbot/memory"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True" and env["HF_HUB_OFFLINE"] == "1"
    # the .env.<id> is read by stockbot (mode and unknown-key checks), never by systemd
    assert u[s]["EnvironmentFile"] == ["-/etc/stockbot/stockbot@%i.conf"]
    assert one(u, s, "ExecStart") == "/opt/stockbot/.venv/bin/stockbot run --account %i"
    stop_timeout = int(one(u, s, "TimeoutStopSec"))
    assert stop_timeout == 60 and Timings().stop_timeout_s + 10 <= stop_timeout
    assert one(u, s, "KillMode") == "mixed" and one(u, s, "SyslogIdentifier") == "stockbot-%i"
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
                       "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                       "ProtectKernelLogs": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
                       "CapabilityBoundingSet": "", "UMask": "0027"}.items():
        assert one(u, s, key) == value, key
    assert u[s]["ReadWritePaths"] == ["/var/lib/stockbot/memory/accounts/%i"]
    assert one(u, s, "CacheDirectory") == "stockbot" and env["HF_HOME"].startswith("/var/cache/stockbot")


def test_alert_and_dashboard_units():
    alert = parse_unit(DEPLOY / "stockbot-alert@.service")
    assert one(alert, "Service", "ExecStart") == "/opt/stockbot/.venv/bin/stockbot alert --unit %i"
    assert one(alert, "Service", "Type") == "oneshot"
    render = parse_unit(DEPLOY / "stockbot-dashboard-render.service")
    assert one(render, "Service", "Type") == "oneshot"
    assert one(render, "Service", "ExecStart").endswith("stockbot dashboard render --out /var/lib/stockbot/dashboard")
    assert one(render, "Service", "ReadWritePaths") == "/var/lib/stockbot/dashboard"
    # the server: a long-running loopback HTTP unit that only reads what render wrote
    serve = parse_unit(DEPLOY / "stockbot-dashboard.service")
    assert one(serve, "Service", "Type") == "simple" and one(serve, "Service", "Restart") == "on-failure"
    assert one(serve, "Service", "ExecStart").endswith(
        "stockbot dashboard serve --dir /var/lib/stockbot/dashboard --port 8787")
    assert one(serve, "Service", "ReadOnlyPaths") == "/var/lib/stockbot/dashboard"
    assert "ReadWritePaths" not in serve["Service"]
    assert one(serve, "Service", "IPAddressDeny") == "any" and one(serve, "Service", "IPAddressAllow") == "localhost"
    assert "stockbot-dashboard-render.service" in one(serve, "Unit", "Wants").split()
    assert one(serve, "Install", "WantedBy") == "multi-user.target"
    timer = parse_unit(DEPLOY / "stockbot-dashboard.timer")
    assert one(timer, "Timer", "OnCalendar") == "*:00/30"
    assert one(timer, "Timer", "Unit") == "stockbot-dashboard-render.service"
    assert one(timer, "Install", "WantedBy") == "timers.target"
    # every documented unit exists, and the README covers the operator's tasks
    readme = (DEPLOY / "README.md").read_text()
    for name in UNITS:
        assert (DEPLOY / name).is_file() and name in readme
    for text in ("journalctl -u stockbot@", "stockbot stop --account", "RestartPreventExitStatus", "EnvironmentFile",
                 "Upgrade"):
        assert text in readme


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed on this machine")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    venv_bin = REPO / ".venv" / "bin" / "stockbot"
    if not venv_bin.exists():
        pytest.skip(f"{venv_bin} missing: verify checks that ExecStart is executable")
    for name in UNITS:  # point the install paths at this checkout so ExecStart exists
        text = (DEPLOY / name).read_text().replace("/opt/stockbot/.venv/bin/stockbot", str(venv_bin))
        (tmp_path / name).write_text(text.replace("WorkingDirectory=/opt/stockbot", f"WorkingDirectory={REPO}"))
    instances = ["stockbot@sp500.service", "stockbot-alert@stockbot@sp500.service", "stockbot-dashboard.service",
                 "stockbot-dashboard-render.service", "stockbot-dashboard.timer"]
    proc = subprocess.run(["systemd-analyze", "verify", *instances], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "stockbot" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


@pytest.mark.parametrize("unit,account", [("stockbot@sp500", "sp500"), ("stockbot@sp500.service", "sp500"),
                                          ("stockbot.service", None), ("/x/stockbot@a-1.service", "a-1")])
def test_account_of_unit(unit, account):
    assert account_of_unit(unit) == account


def test_alert_command_sends_a_forced_alert_and_records_it(capsys):
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = config.env_file_path("sp500")
        env.write_text(f"ALERT_WEBHOOK_URL=http://127.0.0.1:{server.server_port}/hook\n")
        env.chmod(0o600)
        assert alert_main(["--unit", "stockbot@sp500"]) == 0
    finally:
        server.shutdown()
    [payload] = received
    assert "[stockbot sp500] unit_failed" in payload["text"] and "journalctl -u stockbot@sp500" in payload["text"]
    with Store.for_account("sp500", readonly=True) as store:
        [event] = store.events(kind="unit_failed")
    assert event.payload["unit"] == "stockbot@sp500"
    assert "channels: webhook" in capsys.readouterr().out
