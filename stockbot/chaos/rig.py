"""Processes and files of a reliability run: the sim, a daemon child, one account's workspace.

Everything runs on 127.0.0.1 in separate processes, so a ``kill -9`` of the daemon is a real one:
the sim (``stockbot sim --state FILE``) keeps the broker's side of the story across daemon deaths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from stockbot import config

ROOT = Path(__file__).resolve().parents[2]
SEEDS = config.DEFAULT_MEMORY_ROOT / "lessons"  # the committed seed lessons
# A Wednesday, 10:30 New York: the broker's calendar says "trading day" whatever today is.
SIM_START = "2026-11-18T15:30:00Z"
KEY, SECRET = "SIMKEY_CHAOS", "SIMSECRET_CHAOS"
OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


class SimProcess:
    """``stockbot sim`` in its own process (always open, a state file, one $1M chaos account)."""

    def __init__(self, workdir: Path, *, seed: int = 7, mleg_fill: str = "mid", extra: tuple[str, ...] = ()):
        self.state_file = workdir / "sim-state.json"
        self.log_path = workdir / "sim.log"
        cmd = [sys.executable, "-m", "stockbot.cli", "sim", "--port", "0", "--always-open", "--seed", str(seed),
               "--state", str(self.state_file), "--mleg-fill", mleg_fill, "--start-at", SIM_START,
               "--account", f"{KEY}:{SECRET}:equity=1000000", *extra]
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                                     env={**os.environ, **OFFLINE_ENV})
        self.url = self._read_url()
        self._drainer = threading.Thread(target=self._drain, name="sim-log", daemon=True)
        self._drainer.start()

    def _read_url(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self._log.write(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if m:
                return m.group(1)
        self.proc.kill()
        self.proc.wait()
        self._log.close()
        raise RuntimeError(f"stockbot sim did not print its URL (log: {self.log_path})")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
        self._log.flush()  # the pipe closed: the sim has exited

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sim's admin API; returns parsed JSON (None for an empty answer)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method.upper(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:  # loopback only
            raw = resp.read()
        return json.loads(raw) if raw else None

    def orders(self) -> list[dict[str, Any]]:
        """Every order the chaos account ever sent (the broker's side: the ground truth)."""
        return self.admin("GET", f"/_sim/accounts/{KEY}/orders")["orders"]

    def positions(self) -> list[dict[str, Any]]:
        """The chaos account's positions, read through the Trading API as the daemon reads them."""
        req = urllib.request.Request(self.url + "/v2/positions",
                                     headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
        for attempt in range(5):  # the account's rate limit may be busy right after a session
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code != 429 or attempt == 4:
                    raise
                time.sleep(2.0)
        return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drainer.join(5)
        self._log.close()


@dataclass
class Workspace:
    """One account's files for a run: ``env/.env.<id>`` (mode 0600) and a memory root with the
    committed seed lessons, both under ``root``; ``environ()`` points a child process at them."""

    root: Path
    account: str = "chaos"

    def __post_init__(self) -> None:
        self.env_dir = self.root / "env"
        self.memory = self.root / "memory"  # isolation: ok - the run's own temporary memory ROOT
        self.env_dir.mkdir(parents=True, exist_ok=True)
        shared = self.path(None, "shared_lessons")
        shared.mkdir(parents=True, exist_ok=True)
        for seed in sorted(SEEDS.glob("LL-*.md")):
            shutil.copy(seed, shared / seed.name)

    def path(self, account: str | None, name: str) -> Path:
        """``config.account_paths(account)[name]`` (or the shared lessons) under this run's root:
        the layout comes from config, only the root differs from this process's own."""
        root = config.memory_root()
        target = config.shared_lessons_dir() if name == "shared_lessons" else config.account_paths(account)[name]
        return self.memory / target.relative_to(root)

    @property
    def state_db(self) -> Path:
        return self.path(self.account, "state_db")

    @property
    def lessons_dir(self) -> Path:
        return self.path(self.account, "lessons")

    @property
    def account_dir(self) -> Path:
        return self.state_db.parent

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ALPACA_", "AGENT", "RISK_", "CONDOR_", "SCHEDULE_", "NOTIFY_SOCKET"))}
        return {**env, **OFFLINE_ENV, "STOCKBOT_ENV_DIR": str(self.env_dir), "STOCKBOT_MEMORY_ROOT": str(self.memory)}

    def write_env(self, url: str, **extra: str) -> Path:
        """The chaos account's settings: sim endpoints, two scripted ENTER agents and a rule agent
        (2 of 3 = ENTER), a short entry ladder, limits that do not get in the way of many entries."""
        agents = [{"name": f"bull{i}", "kind": "llm", "model": "openai/scripted-enter", "api_base": f"{url}/v1",
                   "api_key": "sk-sim", "timeout_s": 10} for i in (1, 2)]
        agents.append({"name": "iv_rank", "kind": "rule", "model": "iv_rank"})
        values = {"STRATEGY": "condor", "LOG_LEVEL": "INFO", "ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET,
                  "ALPACA_PAPER": "true", "ALPACA_BASE_URL": url,
                  "ALPACA_STREAM_URL": url.replace("http://", "ws://") + "/v2/iex",
                  "AGENTS": json.dumps(agents), "AGENT_DEADLINE_S": "15",
                  "CONDOR_DTE_BOUNDS": "[14,50]", "CONDOR_WIDTH_BOUNDS": "[5,5]",
                  "CONDOR_POLL_INTERVAL_S": "0.1", "CONDOR_FILL_TIMEOUT_S": "0.8", "CONDOR_CANCEL_TIMEOUT_S": "3",
                  "RISK_MAX_OPEN_POSITIONS": "500", "RISK_MAX_ORDERS_PER_HOUR": "5000",
                  "RISK_MAX_ORDERS_PER_DAY": "20000", "RISK_DAILY_LOSS_LIMIT": "1.0",
                  "RISK_WEEKLY_LOSS_LIMIT": "1.0", "LESSONS_CAPTURE_MIN_INTERVAL_S": "0",
                  "SCHEDULE_HEALTH_INTERVAL_S": "2", **extra}
        text = "".join(f"{k}='{v}'\n" if k == "AGENTS" else f"{k}={v}\n" for k, v in values.items())
        return write_private(self.env_dir / f".env.{self.account}", text)


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` to ``path`` created with ``mode`` (never readable by others in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return path


class NotifySocket:
    """A datagram socket playing systemd's ``NOTIFY_SOCKET``: keeps (arrival time, line) of every
    READY/STATUS/WATCHDOG/STOPPING line a daemon sends."""

    def __init__(self, path: Path):
        self.path = path
        path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[tuple[float, str]] = []  # (arrival, line), in order
        self._closed = False
        self._thread = threading.Thread(target=self._collect, name="notify-socket", daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            now = time.monotonic()
            self.received.extend((now, line) for line in data.decode("utf-8", "replace").split("\n"))

    def first(self, line: str, timeout: float) -> float | None:
        """Arrival time of the first ``line`` (e.g. ``READY=1``), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, got in list(self.received):
                if got == line:
                    return t
            time.sleep(0.02)
        return None

    def times(self, line: str) -> list[float]:
        return [t for t, got in list(self.received) if got == line]

    def lines(self) -> list[str]:
        """Every line received so far (``READY=1``, ``STATUS=...``), in order."""
        return [line for _, line in list(self.received)]

    def close(self) -> None:
        self._closed = True
        self._thread.join(2)
        self.sock.close()
        self.path.unlink(missing_ok=True)


class DaemonChild:
    """One life of the daemon (``stockbot.chaos.child``): its write reports arrive on a pipe and
    are kept with their arrival time; ``kill9`` ends it without any chance to clean up."""

    def __init__(self, ws: Workspace, log_path: Path, *, decision_every: float = 2.0, extra: tuple[str, ...] = (),
                 notify: NotifySocket | None = None):
        r, w = os.pipe()
        self._log = open(log_path, "a", encoding="utf-8")
        env = ws.environ()
        if notify is not None:
            env["NOTIFY_SOCKET"] = str(notify.path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stockbot.chaos.child", "--account", ws.account, "--report-fd", str(w),
             "--decision-every", str(decision_every), *extra],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, pass_fds=(w,))
        os.close(w)
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, args=(r,), name="chaos-reports", daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                with self._cond:
                    self.lines.append((time.monotonic(), line.rstrip("\n")))
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_line(self, pred: Callable[[str], bool], timeout: float, start: int = 0) -> int | None:
        """Index of the first report line (from ``start``) matching ``pred``; None on timeout or
        when the child ended without writing one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i][1]):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(min(left, 0.5))

    def reports(self) -> list[str]:
        with self._cond:
            return [line for _, line in self.lines]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> list[str]:
        """SIGKILL, wait for the process to be gone, and return every report it made."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)
        self._log.close()
        return self.reports()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (systemctl stop) and wait; returns the exit code (SIGKILL after ``timeout``)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join(10)
        self._log.close()
        return rc
