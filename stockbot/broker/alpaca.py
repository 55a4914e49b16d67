"""``AlpacaBroker``: the only code that imports alpaca-py's trading and data clients.

Async facade: every blocking alpaca-py call runs in a worker thread, inside the account's request
budget, with a hard socket timeout, and its exceptions are translated at this boundary.

Two deliberate departures from alpaca-py's defaults, both because of money:
- its internal retry (3 x 3 s sleeps on 429/504, POST included) is switched off: it can duplicate
  an order and hides the fault from us. Idempotent reads are retried here with backoff + jitter;
  an order submit is never retried, it is looked up by client_order_id (see ``orders.py``).
- requests has no default timeout, so a hung server would hang a worker thread forever; a
  transport adapter gives every request a connect/read timeout.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Sequence, TypeVar

from requests.adapters import HTTPAdapter

from stockbot.broker import convert
from stockbot.broker.budget import RequestBudget
from stockbot.broker.errors import (AmbiguousSubmitError, NotFoundError, RejectedError, TransientError,
                                    is_auth_refusal, translate)
from stockbot.config import AlpacaSettings
from stockbot.domain import (
    AccountSnapshot,
    Bar,
    BrokerOrder,
    Clock,
    OptionContract,
    OptionQuote,
    OrderIntent,
    Position,
    Quote,
)

T = TypeVar("T")


class _TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout: tuple[float, float]):
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:  # noqa: D401 - requests API
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def _harden(client: Any, timeout: tuple[float, float]) -> Any:
    """Give an alpaca-py REST client a timeout and no internal retries (see module docstring)."""
    client._retry = 0
    adapter = _TimeoutAdapter(timeout)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    return client


class AlpacaBroker:
    """Async access to one Alpaca account (live, paper, or the local sim via base_url)."""

    def __init__(self, settings: AlpacaSettings, *, budget: RequestBudget | None = None,
                 timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.25):
        from alpaca.data.historical.option import OptionHistoricalDataClient
        from alpaca.data.historical.stock import StockHistoricalDataClient
        from alpaca.trading.client import TradingClient

        if settings.api_key is None or settings.secret_key is None:
            raise ValueError("AlpacaBroker needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        key, secret = settings.api_key.get_secret_value(), settings.secret_key.get_secret_value()
        timeout = (min(5.0, timeout_s), timeout_s)
        data_url = settings.effective_data_url
        self.settings = settings
        self.budget = budget or RequestBudget(settings.requests_per_minute)
        self.retries = retries
        self.backoff_s = backoff_s
        self._trading = _harden(TradingClient(key, secret, paper=settings.paper, url_override=settings.base_url),
                                timeout)
        self._stocks = _harden(StockHistoricalDataClient(key, secret, url_override=data_url), timeout)
        self._options = _harden(OptionHistoricalDataClient(key, secret, url_override=data_url), timeout)
        self.calls = 0
        self.auth_rejected: str | None = None  # the last refusal of these keys, until a call succeeds

    # ------------------------------------------------------------------ plumbing

    async def _once(self, fn: Callable[..., T], *args: Any) -> T:
        await self.budget.acquire()
        self.calls += 1
        try:
            result = await asyncio.to_thread(fn, *args)
        except Exception as exc:  # translated here, once, for every caller
            err = translate(exc)
            if is_auth_refusal(err):  # revoked or rotated keys: the daemon reports it as a state
                self.auth_rejected = str(err)[:300]
            raise err from exc
        self.auth_rejected = None
        return result

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """An idempotent call: transient faults are retried with exponential backoff and jitter."""
        attempt = 0
        while True:
            try:
                return await self._once(fn, *args)
            except TransientError:
                attempt += 1
                if attempt > self.retries:
                    raise
                await asyncio.sleep(self.backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random()))

    # ------------------------------------------------------------------ account

    async def account(self) -> AccountSnapshot:
        return convert.account(await self._read(self._trading.get_account))

    async def configuration(self) -> dict[str, Any]:
        cfg = await self._read(self._trading.get_account_configurations)
        return cfg.model_dump(mode="json")

    async def clock(self) -> Clock:
        return convert.clock(await self._read(self._trading.get_clock))

    async def calendar(self, start: date, end: date) -> list[dict[str, Any]]:
        from alpaca.trading.requests import GetCalendarRequest

        days = await self._read(self._trading.get_calendar, GetCalendarRequest(start=start, end=end))
        return [{"date": d.date, "open": d.open, "close": d.close} for d in days]

    # ------------------------------------------------------------------ positions and orders

    async def positions(self) -> list[Position]:
        return [convert.position(p) for p in await self._read(self._trading.get_all_positions)]

    async def position(self, symbol: str) -> Position | None:
        try:
            return convert.position(await self._read(self._trading.get_open_position, symbol))
        except NotFoundError:
            return None

    async def orders(self, *, status: str = "open", limit: int = 500,
                     after: datetime | None = None) -> list[BrokerOrder]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        req = GetOrdersRequest(status=QueryOrderStatus(status), limit=limit, nested=True, after=after)
        return [convert.order(o) for o in await self._read(self._trading.get_orders, req)]

    async def order_by_id(self, order_id: str) -> BrokerOrder | None:
        try:
            return convert.order(await self._read(self._trading.get_order_by_id, order_id))
        except NotFoundError:
            return None

    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, or None if the broker never received it."""
        try:
            return convert.order(await self._read(self._trading.get_order_by_client_id, client_order_id))
        except NotFoundError:
            return None

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        """POST one order. Never retried: a transient fault becomes AmbiguousSubmitError, and a
        duplicate-client-id refusal (an earlier attempt did land) is ambiguous too."""
        request = convert.order_request(intent)
        try:
            return convert.order(await self._once(self._trading.submit_order, request))
        except TransientError as exc:
            raise AmbiguousSubmitError(f"submit {intent.client_order_id}: {exc}", status=exc.status,
                                       code=exc.code) from exc
        except RejectedError as exc:
            if "client_order_id" in str(exc).lower() and exc.status == 422:
                raise AmbiguousSubmitError(f"submit {intent.client_order_id}: {exc}", status=exc.status,
                                           code=exc.code) from exc
            raise

    async def cancel(self, order_id: str) -> None:
        await self._read(self._trading.cancel_order_by_id, order_id)

    async def close_position(self, symbol: str, *, qty: Decimal | None = None,
                             percentage: Decimal | None = None) -> BrokerOrder:
        """Close (part of) a position through Alpaca's close_position (lesson LL-282).

        Not retried on transient faults: the caller re-reads positions and decides again."""
        from alpaca.trading.requests import ClosePositionRequest

        opts = None
        if qty is not None or percentage is not None:
            opts = ClosePositionRequest(qty=None if qty is None else str(qty),
                                        percentage=None if percentage is None else str(percentage))
        return convert.order(await self._once(self._trading.close_position, symbol, opts))

    # ------------------------------------------------------------------ market data

    async def latest_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockLatestQuoteRequest

        req = StockLatestQuoteRequest(symbol_or_symbols=list(symbols), feed=DataFeed(self.settings.feed))
        raw = await self._read(self._stocks.get_stock_latest_quote, req)
        return {sym: convert.quote(sym, q) for sym, q in raw.items()}

    async def daily_bars(self, symbols: Sequence[str], start: datetime, end: datetime | None = None
                         ) -> dict[str, list[Bar]]:
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        req = StockBarsRequest(symbol_or_symbols=list(symbols), timeframe=TimeFrame.Day, start=start, end=end,
                               feed=DataFeed(self.settings.feed))
        barset = await self._read(self._stocks.get_stock_bars, req)
        return {sym: [convert.bar(sym, b) for b in bars] for sym, bars in barset.data.items()}

    async def option_contracts(self, underlying: str, *, expiration_gte: date | None = None,
                               expiration_lte: date | None = None) -> list[OptionContract]:
        from alpaca.trading.requests import GetOptionContractsRequest

        out: list[OptionContract] = []
        token: str | None = None
        while True:
            req = GetOptionContractsRequest(underlying_symbols=[underlying], expiration_date_gte=expiration_gte,
                                            expiration_date_lte=expiration_lte, limit=1000, page_token=token)
            page = await self._read(self._trading.get_option_contracts, req)
            out.extend(convert.option_contract(c) for c in page.option_contracts or [])
            token = page.next_page_token
            if not token:
                return out

    async def option_chain(self, underlying: str, *, expiration_gte: date | None = None,
                           expiration_lte: date | None = None, strike_gte: Decimal | None = None,
                           strike_lte: Decimal | None = None) -> list[OptionQuote]:
        """Chain snapshot (quotes, greeks, IV) for an underlying; unquoted contracts are dropped.

        Filter by expiration and strike on the server: every page of the chain is a request against
        the account's 200/min."""
        from alpaca.data.requests import OptionChainRequest

        req = OptionChainRequest(underlying_symbol=underlying, expiration_date_gte=expiration_gte,
                                 expiration_date_lte=expiration_lte,
                                 strike_price_gte=None if strike_gte is None else float(strike_gte),
                                 strike_price_lte=None if strike_lte is None else float(strike_lte))
        snaps = await self._read(self._options.get_option_chain, req)
        rows = (convert.option_snapshot(sym, s) for sym, s in snaps.items())
        return [r for r in rows if r is not None]

    async def option_quotes(self, symbols: Sequence[str]) -> dict[str, OptionQuote]:
        """Snapshots for specific contracts (used to price a condor we hold)."""
        from alpaca.data.requests import OptionSnapshotRequest

        snaps = await self._read(self._options.get_option_snapshot,
                                 OptionSnapshotRequest(symbol_or_symbols=list(symbols)))
        rows = {sym: convert.option_snapshot(sym, s) for sym, s in snaps.items()}
        return {k: v for k, v in rows.items() if v is not None}

