"""Start-up checks with the shipped settings: a condor account below options level 3 (defect 8)."""

from __future__ import annotations

import pytest
from simfixtures import RecordingAlerter

from stockbot.daemon import EXIT_CONFIG, Daemon, StartupRefused
from stockbot.store import Store

from .conftest import ACCOUNT, KEY, shipped_settings


async def test_production_defaults_condor_account_below_level_three_is_refused(prod_sim):
    sim = await prod_sim(options_level=2)
    alerts = RecordingAlerter()
    daemon = Daemon(shipped_settings(sim.url), alerter=alerts)
    with pytest.raises(StartupRefused) as info:
        await daemon.start()
    assert info.value.exit_code == EXIT_CONFIG
    assert "STRATEGY=condor needs options approval level 3" in info.value.reason and "level 2" in info.value.reason
    assert alerts.kinds() == ["startup_refused"]
    assert sim.state.requests.query(method="POST", key_id=KEY) == []
    with Store.for_account(ACCOUNT, readonly=True) as store:
        assert "options approval level" in store.events(kind="startup_refused")[0].payload["reason"]
