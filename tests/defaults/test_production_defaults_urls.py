"""Defect 2 of the production-defaults issue: market data and the stream must not follow a paper
or live ALPACA_BASE_URL to a trading host (Alpaca's trading hosts serve no market data)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.broker.stream import QuoteFeed
from stockbot.config import AlpacaSettings, is_loopback_url

KEYS = {"api_key": SecretStr("PKTEST"), "secret_key": SecretStr("SECRET")}


def _hosts(settings: AlpacaSettings) -> tuple[str, str, str]:
    broker = AlpacaBroker(settings)
    return broker._trading._base_url, broker._stocks._base_url, broker._options._base_url


@pytest.mark.parametrize("paper, base_url, trading", [
    (True, "https://paper-api.alpaca.markets", "https://paper-api.alpaca.markets"),
    (False, "https://api.alpaca.markets", "https://api.alpaca.markets"),
    (True, None, "https://paper-api.alpaca.markets"),
])
def test_production_defaults_data_goes_to_alpaca_data_hosts(paper, base_url, trading):
    s = AlpacaSettings(paper=paper, base_url=base_url, **KEYS)
    got_trading, stocks, options = _hosts(s)
    assert got_trading.rstrip("/") == trading
    assert stocks.rstrip("/") == "https://data.alpaca.markets"
    assert options.rstrip("/") == "https://data.alpaca.markets"
    feed = QuoteFeed(s, ["SPY"], loop=None, on_quote=lambda q: None)  # type: ignore[arg-type]
    assert feed.url == "wss://stream.data.alpaca.markets/v2/iex"


def test_production_defaults_local_exchange_serves_everything():
    s = AlpacaSettings(base_url="http://127.0.0.1:8765", feed="sip", **KEYS)
    trading, stocks, options = _hosts(s)
    assert trading == stocks == options == "http://127.0.0.1:8765"
    feed = QuoteFeed(s, ["SPY"], loop=None, on_quote=lambda q: None)  # type: ignore[arg-type]
    assert feed.url == "ws://127.0.0.1:8765/v2/sip"


def test_explicit_data_and_stream_urls_win():
    s = AlpacaSettings(base_url="https://paper-api.alpaca.markets", data_url="http://127.0.0.1:9",
                       stream_url="ws://127.0.0.1:9/v2/test", **KEYS)
    assert _hosts(s)[1] == "http://127.0.0.1:9"
    assert QuoteFeed(s, ["SPY"], loop=None, on_quote=lambda q: None).url == "ws://127.0.0.1:9/v2/test"  # type: ignore[arg-type]


@pytest.mark.parametrize("url, local", [("http://127.0.0.1:5", True), ("http://localhost:5", True),
                                        ("http://[::1]:5", True), ("https://paper-api.alpaca.markets", False),
                                        ("http://127.example.com", False), (None, False)])
def test_loopback_detection(url, local):
    assert is_loopback_url(url) is local
