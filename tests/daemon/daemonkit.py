"""What the daemon tests share besides fixtures: the sim's account, the frozen start time, quiet
job timings and the daemon's settings against a sim URL (tests import this module, never conftest)."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import SecretStr

from stockbot.config import (AgentSettings, AgentSpec, AlpacaSettings, CondorSettings, LessonSettings, RiskSettings,
                             Settings)
from stockbot.daemon.timings import Timings

T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)
KEY, SECRET = "SIMKEY_DAEMON", "SIMSECRET_DAEMON"
ACCOUNT = "dmn"
# Jobs never fire by themselves during a test (an hour), except health, which must keep pinging.
QUIET = Timings(decision_cron=None, decision_every_s=3600, manage_every_s=3600, reconcile_every_s=3600,
                health_every_s=0.5, eod_cron=None, eod_every_s=3600, stream_silence_s=30, stop_timeout_s=10,
                clock_ttl_s=0.5)


def daemon_settings(url: str, *, agent: str = "scripted-enter", account: str = ACCOUNT) -> Settings:
    agents = tuple(AgentSpec(name=f"agent{i}", kind="llm", model=f"openai/{agent}", api_base=f"{url}/v1",
                             api_key=SecretStr("sk-sim"), timeout_s=20) for i in range(3))
    return Settings(
        account=account,
        alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=url,
                              stream_url=url.replace("http://", "ws://") + "/v2/iex"),
        agents=AgentSettings(agents=agents, deadline_s=30),
        condor=CondorSettings(dte_bounds=(14, 50), poll_interval_s=0.05, fill_timeout_s=1.0, cancel_timeout_s=2.0),
        risk=RiskSettings(max_orders_per_hour=100, max_orders_per_day=300),
        lessons=LessonSettings(capture_min_interval_s=0),
    )
