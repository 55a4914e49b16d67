"""The sim leaves greeks and IV out of option snapshots the way Alpaca does (stockbot.sim.greeks_omit)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from alpaca.data.historical import OptionHistoricalDataClient
from alpaca.data.requests import OptionChainRequest
from simfixtures import DEMO_KEY, DEMO_SECRET

from stockbot.sim.app import run_in_thread
from stockbot.sim.greeks_omit import DEEP_ITM_DELTA, GreeksOmission

UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
SYMBOLS = [f"SPY261218C{k * 1000:08d}" for k in range(400, 800)]


def test_the_rule_drops_deep_itm_no_bid_and_no_iv():
    o = GreeksOmission()
    assert not o.omits("X", 0.5, 1.2, 0.2)
    assert not o.omits("X", -DEEP_ITM_DELTA, 1.2, 0.2)  # the boundary itself keeps them
    assert o.omits("X", 0.975, 30.0, 0.2) and o.omits("X", -0.99, 30.0, 0.2)
    assert o.omits("X", 0.02, 0.0, 0.4)  # no bid
    assert o.omits("X", 0.3, 0.5, None)  # the mid implies no vol


def test_a_seeded_fraction_is_stable_and_about_right():
    a, b = GreeksOmission(), GreeksOmission()
    a.set(drop_fraction=0.3, seed=7)
    b.set(drop_fraction=0.3, seed=7)
    picked = [s for s in SYMBOLS if a.omits(s, 0.3, 1.0, 0.2)]
    assert picked == [s for s in SYMBOLS if b.omits(s, 0.3, 1.0, 0.2)]  # same seed, same contracts
    assert 0.2 < len(picked) / len(SYMBOLS) < 0.4
    b.set(seed=8)
    assert picked != [s for s in SYMBOLS if b.omits(s, 0.3, 1.0, 0.2)]
    b.set(drop_fraction=1.0)
    assert all(b.omits(s, 0.3, 1.0, 0.2) for s in SYMBOLS)
    with pytest.raises(ValueError):
        b.set(drop_fraction=1.5)


def test_the_admin_setting_drops_them_on_the_wire():
    with run_in_thread(seed=0, start_at=T0, freeze=True) as sim:
        client = OptionHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)
        req = OptionChainRequest(underlying_symbol="SPY", expiration_date=datetime(2026, 12, 18).date(),
                                 strike_price_gte=550, strike_price_lte=750)
        before = client.get_option_chain(req)
        with_greeks = {s for s, v in before.items() if v.greeks is not None}
        assert with_greeks and all(before[s].implied_volatility for s in with_greeks)
        bad = requests.post(sim.url + "/_sim/settings", json={"greeks_drop_fraction": 2}, timeout=30)
        assert bad.status_code == 400
        got = requests.post(sim.url + "/_sim/settings", json={"greeks_drop_fraction": 0.5, "greeks_drop_seed": 3},
                            timeout=30).json()
        assert got["greeks_drop_fraction"] == 0.5 and got["greeks_drop_seed"] == 3
        half = client.get_option_chain(req)
        kept = {s for s, v in half.items() if v.greeks is not None}
        assert kept < with_greeks and 0.3 < len(kept) / len(with_greeks) < 0.7
        assert all(half[s].implied_volatility is None for s in half if s not in kept)
        assert {s for s, v in client.get_option_chain(req).items() if v.greeks is not None} == kept  # stable
        requests.post(sim.url + "/_sim/settings", json={"greeks_drop_fraction": 1}, timeout=30)
        assert all(v.greeks is None and v.implied_volatility is None for v in client.get_option_chain(req).values())
