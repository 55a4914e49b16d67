"""The sim's market-data and option-contract responses against Alpaca's published OpenAPI specs.

The specs live beside the project in ``../shared/alpaca-openapi`` (read there, never copied). Each
route's 200 schema is taken from the spec's own path entry, so a renamed or re-shaped field in
either the spec or the sim shows up here. Where alpaca-py 0.44 and the spec disagree alpaca-py
wins (it is the client we ship with); such cases are listed in ``ALPACA_PY_EXCEPTIONS`` and
checked to still be needed.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from simfixtures import DEMO_KEY, DEMO_SECRET

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "alpaca-openapi"
UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
HEADERS = {"APCA-API-KEY-ID": DEMO_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET}

# (spec file, path template) -> why the sim follows alpaca-py rather than the spec there.
# The sim's responses satisfy both for every route below, so the list is empty; add an entry
# (and a test that it is still needed) before letting a response deviate from the spec.
ALPACA_PY_EXCEPTIONS: dict[tuple[str, str], str] = {}

# Notes on points where alpaca-py is stricter or looser than the spec, all satisfied by the sim:
# - alpaca-py picks the single data key of a market-data page (bars/quotes/snapshots...) and
#   raises when a response holds two of them, so no extra top-level data keys are sent;
# - ``/v2/stocks/snapshots`` is read with ``no_sub_key``: every top-level key must be a symbol
#   (no ``next_page_token`` there, exactly as the spec's additionalProperties-only shape says);
# - OptionContract: the spec requires ``multiplier`` which alpaca-py ignores; the sim sends both
#   ``multiplier`` and ``size``; ``close_price``/``strike_price`` are strings (alpaca-py parses
#   ``strike_price`` into a float).


def load_spec(name: str) -> dict:
    path = SPEC_DIR / name
    if not path.exists():
        pytest.skip(f"Alpaca OpenAPI spec not found at {path}")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def specs() -> dict[str, dict]:
    return {"data": load_spec("market-data-api.json"), "trading": load_spec("trading-api.json")}


@pytest.fixture(scope="module")
def frozen():
    from stockbot.sim.app import run_in_thread

    with run_in_thread(seed=0, start_at=T0, freeze=True) as running:
        yield running


def response_schema(spec: dict, path: str, status: str = "200") -> dict:
    op = spec["paths"][path]["get"]
    resp = op["responses"][status]
    if "$ref" in resp:
        resp = spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    return resp["content"]["application/json"]["schema"]


def validate(spec: dict, schema: dict, body) -> None:
    root = {"components": spec["components"], "allOf": [schema]}
    validator = OAS30Validator(root, format_checker=oas30_format_checker)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def get(sim, path: str, params: dict | None = None, status: int = 200):
    r = requests.get(sim.url + path, params=params, headers=HEADERS, timeout=60)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


START = (T0 - timedelta(days=3)).isoformat()

DATA_CASES = [
    ("/v2/stocks/quotes/latest", "/v2/stocks/quotes/latest", {"symbols": "SPY,AAPL,BRK.B", "feed": "iex"}),
    ("/v2/stocks/{symbol}/quotes/latest", "/v2/stocks/SPY/quotes/latest", {"feed": "iex"}),
    ("/v2/stocks/trades/latest", "/v2/stocks/trades/latest", {"symbols": "SPY,QQQ"}),
    ("/v2/stocks/{symbol}/trades/latest", "/v2/stocks/QQQ/trades/latest", {}),
    ("/v2/stocks/bars", "/v2/stocks/bars", {"symbols": "SPY,QQQ", "timeframe": "1Day", "start": "2025-10-01",
                                            "adjustment": "raw", "feed": "iex"}),
    ("/v2/stocks/bars", "/v2/stocks/bars", {"symbols": "SPY,QQQ", "timeframe": "1Min", "start": START, "limit": 700}),
    ("/v2/stocks/bars", "/v2/stocks/bars", {"symbols": "SPY", "timeframe": "1Hour", "start": START, "sort": "desc"}),
    ("/v2/stocks/bars", "/v2/stocks/bars", {"symbols": "SPY", "timeframe": "1Day", "start": "2031-01-01"}),
    ("/v2/stocks/{symbol}/bars", "/v2/stocks/SPY/bars", {"timeframe": "1Week", "start": "2026-01-01"}),
    ("/v2/stocks/bars/latest", "/v2/stocks/bars/latest", {"symbols": "SPY,NVDA"}),
    ("/v2/stocks/{symbol}/bars/latest", "/v2/stocks/SPY/bars/latest", {}),
    ("/v2/stocks/snapshots", "/v2/stocks/snapshots", {"symbols": "SPY,MSFT"}),
    ("/v2/stocks/{symbol}/snapshot", "/v2/stocks/SPY/snapshot", {}),
    ("/v1beta1/options/snapshots/{underlying_symbol}", "/v1beta1/options/snapshots/SPY",
     {"type": "put", "expiration_date_gte": "2026-12-01", "expiration_date_lte": "2026-12-31", "limit": 300}),
    ("/v1beta1/options/snapshots/{underlying_symbol}", "/v1beta1/options/snapshots/AAPL",
     {"expiration_date": "2026-12-18", "strike_price_gte": 200, "strike_price_lte": 300}),
    ("/v2/stocks/quotes", "/v2/stocks/quotes", {"symbols": "SPY,QQQ", "start": START, "limit": 50, "feed": "iex"}),
    ("/v2/stocks/trades", "/v2/stocks/trades", {"symbols": "SPY", "start": START, "limit": 20, "sort": "desc"}),
    ("/v2/stocks/{symbol}/quotes", "/v2/stocks/SPY/quotes", {"start": START, "limit": 5}),
    ("/v2/stocks/{symbol}/trades", "/v2/stocks/SPY/trades", {"start": START, "limit": 5}),
    ("/v1beta1/options/trades", "/v1beta1/options/trades", {"symbols": "SPY261218P00780000,SPY261218C00800000",
                                                            "start": START, "limit": 30}),
    ("/v1beta1/options/bars", "/v1beta1/options/bars", {"symbols": "SPY261218P00780000", "timeframe": "1Hour",
                                                        "start": START}),
    ("/v1beta1/options/bars", "/v1beta1/options/bars", {"symbols": "SPY261218P00780000", "timeframe": "1Day",
                                                        "start": "2026-11-01"}),
]


@pytest.mark.parametrize("spec_path,path,params", DATA_CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(DATA_CASES)])
def test_market_data_responses_match_the_spec(specs, frozen, spec_path, path, params):
    assert ("market-data-api.json", spec_path) not in ALPACA_PY_EXCEPTIONS
    body = get(frozen, path, params)
    validate(specs["data"], response_schema(specs["data"], spec_path), body)
    if spec_path.endswith("/bars"):
        assert body["bars"] is not None and "next_page_token" in body


def test_the_validator_rejects_broken_bodies(specs):
    """The check has teeth: a quote without an ask price and a bar with a string price fail."""
    data = specs["data"]
    bad_quote = {"quotes": {"SPY": {"t": "2026-11-18T15:30:00Z", "bx": "V", "bp": 1.0, "bs": 1, "as": 1,
                                    "ax": "V", "c": ["R"], "z": "B"}}}
    with pytest.raises(AssertionError):
        validate(data, response_schema(data, "/v2/stocks/quotes/latest"), bad_quote)
    bad_bars = {"bars": {"SPY": [{"t": "2026-11-18T15:30:00Z", "o": "1", "h": 1, "l": 1, "c": 1, "v": 1, "n": 1,
                                  "vw": 1}]}, "next_page_token": None}
    with pytest.raises(AssertionError):
        validate(data, response_schema(data, "/v2/stocks/bars"), bad_bars)


def test_paged_responses_match_the_spec(specs, frozen):
    schema = response_schema(specs["data"], "/v2/stocks/bars")
    params = {"symbols": "QQQ,SPY", "timeframe": "1Min", "start": START, "limit": 1000}
    pages = 0
    while True:
        body = get(frozen, "/v2/stocks/bars", params)
        validate(specs["data"], schema, body)
        pages += 1
        if not body["next_page_token"]:
            break
        params["page_token"] = body["next_page_token"]
    assert pages > 1


def test_option_snapshots_by_symbol_and_latest(specs, frozen):
    chain = get(frozen, "/v1beta1/options/snapshots/QQQ", {"expiration_date": "2026-12-18", "limit": 5})
    syms = ",".join(sorted(chain["snapshots"]))
    cases = [("/v1beta1/options/snapshots", {"symbols": syms}),
             ("/v1beta1/options/quotes/latest", {"symbols": syms}),
             ("/v1beta1/options/trades/latest", {"symbols": syms})]
    for path, params in cases:
        body = get(frozen, path, params)
        validate(specs["data"], response_schema(specs["data"], path), body)
        assert len(next(iter(v for k, v in body.items() if k != "next_page_token"))) == 5


def test_option_snapshots_without_greeks_match_the_spec(specs, frozen):
    """Alpaca leaves ``greeks`` and ``impliedVolatility`` out of some snapshots: both are optional in
    the spec, and the sim's answer with them dropped for every contract is still valid."""
    params = {"type": "call", "expiration_date": "2026-12-18", "limit": 200}
    default = get(frozen, "/v1beta1/options/snapshots/SPY", params)["snapshots"]
    deep = [v for v in default.values() if "greeks" not in v]  # the deep-ITM calls of the grid
    assert deep and all("impliedVolatility" not in v for v in deep)
    r = requests.post(frozen.url + "/_sim/settings", json={"greeks_drop_fraction": 1.0}, timeout=30)
    assert r.json()["greeks_drop_fraction"] == 1.0
    try:
        body = get(frozen, "/v1beta1/options/snapshots/SPY", params)
        validate(specs["data"], response_schema(specs["data"], "/v1beta1/options/snapshots/{underlying_symbol}"), body)
        assert len(body["snapshots"]) == 200
        assert not any("greeks" in v or "impliedVolatility" in v for v in body["snapshots"].values())
        by_symbol = get(frozen, "/v1beta1/options/snapshots", {"symbols": ",".join(sorted(body["snapshots"])[:20])})
        validate(specs["data"], response_schema(specs["data"], "/v1beta1/options/snapshots"), by_symbol)
        assert not any("greeks" in v for v in by_symbol["snapshots"].values())
    finally:
        requests.post(frozen.url + "/_sim/settings", json={"greeks_drop_fraction": 0.0}, timeout=30)


def test_option_contracts_match_the_trading_spec(specs, frozen):
    spec = specs["trading"]
    body = get(frozen, "/v2/options/contracts", {"underlying_symbols": "SPY,QQQ", "expiration_date_gte": "2026-12-01",
                                                 "expiration_date_lte": "2026-12-31", "limit": 250, "status": "active"})
    validate(spec, response_schema(spec, "/v2/options/contracts"), body)
    assert len(body["option_contracts"]) == 250 and body["next_page_token"]
    one = body["option_contracts"][0]
    single = get(frozen, f"/v2/options/contracts/{one['symbol']}")
    validate(spec, response_schema(spec, "/v2/options/contracts/{symbol_or_id}"), single)
    assert get(frozen, f"/v2/options/contracts/{one['id']}") == single
    missing = get(frozen, "/v2/options/contracts/SPY261218C09990000", status=404)
    validate(spec, response_schema(spec, "/v2/options/contracts/{symbol_or_id}", "404"), missing)
    assert missing["code"] == 40410000


def test_errors_are_alpaca_json(frozen):
    r = requests.get(frozen.url + "/v2/stocks/quotes/latest", params={"symbols": "SPY"},
                     headers={"APCA-API-KEY-ID": "X", "APCA-API-SECRET-KEY": "Y"}, timeout=30)
    assert r.status_code == 401 and r.json() == {"code": 40110000, "message": "request is not authorized"}
    for params in ({"symbols": "SPY"}, {"symbols": "SPY", "timeframe": "7Day"},
                   {"symbols": "SPY", "timeframe": "1Day", "limit": 0},
                   {"symbols": "SPY", "timeframe": "1Day", "start": "yesterday"},
                   {"symbols": "SPY", "timeframe": "1Day", "page_token": "%%%"}):
        body = get(frozen, "/v2/stocks/bars", params, status=400)
        assert set(body) == {"code", "message"} and body["code"] == 40010000


def test_spec_paths_the_sim_serves_exist(specs):
    """Every path the conformance tests name is still in the spec (catches spec renames)."""
    for spec_path, _, _ in DATA_CASES:
        assert spec_path in specs["data"]["paths"]
    assert "/v2/options/contracts" in specs["trading"]["paths"]
    assert date(2026, 11, 18).weekday() == 2
