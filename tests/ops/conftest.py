"""Ops fixtures: a local exchange in its own thread with two accounts, and a recording alerter."""

from __future__ import annotations

import pytest
from opshelpers import ACCOUNTS, RecordingAlerter

from simfixtures import make_sim_thread  # noqa: F401  (pytest fixture)


@pytest.fixture
def ops_sim(make_sim_thread):  # noqa: F811
    return make_sim_thread(seed=0, always_open=True, accounts=list(ACCOUNTS))


@pytest.fixture
def alerter():
    return RecordingAlerter()
