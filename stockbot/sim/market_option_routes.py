"""Option routes of the local exchange.

Market data (OptionHistoricalDataClient): ``/v1beta1/options/snapshots/{underlying}`` (the chain,
with filters), ``/v1beta1/options/snapshots?symbols=``, ``/v1beta1/options/quotes/latest``,
``/v1beta1/options/trades/latest``, ``/v1beta1/options/meta/exchanges``.
Trading API (TradingClient.get_option_contracts / get_option_contract): ``/v2/options/contracts``
and ``/v2/options/contracts/{symbol_or_id}``. All sorted by OCC symbol and paged with an opaque
``next_page_token`` (base64 of the last symbol served).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

from aiohttp import web

from stockbot.domain import OptionContract, OptionRight
from stockbot.sim import wire
from stockbot.sim.clock import ny_date, prev_trading_day, session_close_utc
from stockbot.sim.greeks_omit import GreeksOmission
from stockbot.sim.route_params import BadRequest, decode_token, encode_token, guarded, limit_param
from stockbot.sim.state import state_of
from stockbot.sim.market_daily import stable_int
from stockbot.sim.market_options import DIVIDEND_YIELD, RATE, SECONDS_PER_YEAR, OptionSnapshot

UTC = timezone.utc
OPTION_EXCHANGES = {"A": "AMEX - NYSE American", "B": "BOX", "C": "Cboe", "H": "MIAX Sapphire",
                    "I": "ISE", "M": "MIAX", "N": "NYSE Arca", "Q": "NASDAQ", "W": "C2", "X": "PHLX",
                    "Z": "BZX Options"}


def snapshot_json(s: OptionSnapshot, omission: GreeksOmission | None = None) -> dict:
    """A snapshot as Alpaca serves it: without ``greeks`` and ``impliedVolatility`` where the
    omission rule says so (stockbot.sim.greeks_omit)."""
    g = s.greeks
    out = {
        "latestQuote": {"t": wire.rfc3339(s.ts), "ax": "C", "ap": s.ask, "as": s.ask_size, "bx": "C",
                        "bp": s.bid, "bs": s.bid_size, "c": "A"},
    }
    if s.last_ts is not None:  # a contract that has not traded yet has no latest trade (as on Alpaca)
        out["latestTrade"] = {"t": wire.rfc3339(s.last_ts), "x": "C", "p": s.last_price, "s": s.last_size, "c": "I"}
    if omission is not None and omission.omits(s.contract.symbol, g.delta, s.bid, s.iv):
        return out
    out["greeks"] = {"delta": round(g.delta, 6), "gamma": round(g.gamma, 6), "rho": round(g.rho, 6),
                     "theta": round(g.theta, 6), "vega": round(g.vega, 6)}
    if s.iv is not None:
        out["impliedVolatility"] = round(s.iv, 6)
    return out


# -- filters ------------------------------------------------------------------------------
def _date_param(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise BadRequest(f"invalid {name}: {raw}") from None


def _float_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"invalid {name}: {raw}") from None


def contract_filter(request: web.Request, *, default_lte: date | None = None):
    """A predicate over contracts from the query: type, strike_price_gte/lte, expiration_date,
    expiration_date_gte/lte, root_symbol, style."""
    typ = request.query.get("type")
    if typ and typ not in ("call", "put"):
        raise BadRequest(f"invalid type: {typ}")
    style = request.query.get("style")
    if style and style not in ("american", "european"):
        raise BadRequest(f"invalid style: {style}")
    k_lo, k_hi = _float_param(request, "strike_price_gte"), _float_param(request, "strike_price_lte")
    exact = _date_param(request, "expiration_date")
    e_lo, e_hi = _date_param(request, "expiration_date_gte"), _date_param(request, "expiration_date_lte")
    if exact is None and e_lo is None and e_hi is None:
        e_hi = default_lte
    root = (request.query.get("root_symbol") or "").upper()

    def ok(c: OptionContract) -> bool:
        if typ and c.right.value != typ:
            return False
        if style == "european" or (root and c.underlying != root):
            return False
        k = float(c.strike)
        if (k_lo is not None and k < k_lo - 1e-9) or (k_hi is not None and k > k_hi + 1e-9):
            return False
        if exact is not None and c.expiration != exact:
            return False
        if (e_lo is not None and c.expiration < e_lo) or (e_hi is not None and c.expiration > e_hi):
            return False
        return True
    return ok


def _page(items: list, key, limit: int, token: list[str] | None) -> tuple[list, str | None]:
    """A page of ``limit`` items (sorted by ``key``) after the token's key."""
    if token:
        items = [it for it in items if key(it) > token[0]]
    if len(items) > limit:
        return items[:limit], encode_token(key(items[limit - 1]))
    return items, None


def _occ_list(request: web.Request) -> list[str]:
    syms = sorted({s.strip().upper() for s in wire.query_list(request.query.get("symbols"))})
    if not syms:
        raise BadRequest("symbols is required")
    return syms


# -- market data --------------------------------------------------------------------------
@guarded
async def chain(request: web.Request) -> web.Response:
    st = state_of(request)
    underlying = request.match_info["underlying_symbol"].upper()
    limit = limit_param(request, 100, 1000)
    token = decode_token(request.query.get("page_token"))
    ok = contract_filter(request)
    now = st.clock.now()
    contracts = st.market.options.contracts(underlying, now) if st.market.has_symbol(underlying) else []
    page, nxt = _page([c for c in contracts if ok(c)], lambda c: c.symbol, limit, token)
    book = st.market.options
    snaps = {c.symbol: snapshot_json(book.snapshot_of(c, now), book.omission) for c in page}
    return wire.json_response({"snapshots": snaps, "next_page_token": nxt})


def _listed_snapshots(st, syms: list[str], now: datetime) -> dict[str, OptionSnapshot]:
    out = {}
    for s in syms:
        try:
            out[s] = st.market.options.snapshot(s, now)
        except KeyError:
            continue
    return out


@guarded
async def snapshots(request: web.Request) -> web.Response:
    st = state_of(request)
    limit = limit_param(request, 100, 1000)
    token = decode_token(request.query.get("page_token"))
    syms, nxt = _page(_occ_list(request), lambda s: s, limit, token)
    now = st.clock.now()
    snaps = {s: snapshot_json(v, st.market.options.omission) for s, v in _listed_snapshots(st, syms, now).items()}
    return wire.json_response({"snapshots": snaps, "next_page_token": nxt})


@guarded
async def latest_quotes(request: web.Request) -> web.Response:
    st = state_of(request)
    now = st.clock.now()
    snaps = _listed_snapshots(st, _occ_list(request), now)
    return wire.json_response({"quotes": {s: snapshot_json(v)["latestQuote"] for s, v in snaps.items()}})


@guarded
async def latest_trades(request: web.Request) -> web.Response:
    st = state_of(request)
    snaps = _listed_snapshots(st, _occ_list(request), st.clock.now())
    trades = {s: j["latestTrade"] for s, j in ((s, snapshot_json(v)) for s, v in snaps.items()) if "latestTrade" in j}
    return wire.json_response({"trades": trades})


@guarded
async def exchanges(request: web.Request) -> web.Response:
    return wire.json_response(OPTION_EXCHANGES)


# -- trading API: option contracts --------------------------------------------------------
def next_weekend(today: date) -> date:
    """The Sunday that ends the current trading week (next week's when called on a weekend)."""
    days = (6 - today.weekday()) % 7
    return today + timedelta(days=days + (7 if today.weekday() >= 5 else 0))


def contract_json(st, c: OptionContract, now: datetime, status: str = "active") -> dict:
    market = st.market
    book = market.options
    prev = prev_trading_day(ny_date(now))
    close_price, oi = _reference(market, c, prev)
    right = "Call" if c.right is OptionRight.CALL else "Put"
    out = {
        "id": book.contract_id(c.symbol), "symbol": c.symbol,
        "name": f"{c.underlying} {c.expiration:%b %d %Y} {wire.money(c.strike)} {right}",
        "status": status, "tradable": status == "active", "expiration_date": c.expiration.isoformat(),
        "root_symbol": c.underlying, "underlying_symbol": c.underlying,
        "underlying_asset_id": market.asset_id(c.underlying), "type": c.right.value, "style": "american",
        "strike_price": wire.money(c.strike), "multiplier": "100", "size": "100",
        "open_interest": str(oi), "open_interest_date": prev.isoformat(),
        "close_price": wire.money(round(close_price, 2)) if close_price is not None else None,
        "close_price_date": prev.isoformat() if close_price is not None else None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _reference(market, c: OptionContract, prev: date) -> tuple[float | None, int]:
    """(model close price at the previous close, a plausible open interest)."""
    spot = market.daily.close(c.underlying, prev)
    t_close = session_close_utc(prev).timestamp()
    t_years = max(0.0, (session_close_utc(c.expiration).timestamp() - t_close) / SECONDS_PER_YEAR)
    strike = float(c.strike)
    vol = market.options.smile_vol(c.underlying, prev, spot, strike, t_years)
    price = market.options.model.price(spot, strike, t_years, vol, RATE, c.right, DIVIDEND_YIELD) if t_years > 0 else None
    base = market.daily.params(c.underlying).base_volume / 3500.0
    m = math.log(strike / spot) / max(0.05, vol * math.sqrt(max(t_years, 1 / 365)))
    oi = base * math.exp(-0.5 * m * m) / (1.0 + 8.0 * t_years) * (0.5 + (stable_int(c.symbol) % 1000) / 1000.0)
    return price, int(oi)


@guarded
async def list_contracts(request: web.Request) -> web.Response:
    st = state_of(request)
    now = st.clock.now()
    status = request.query.get("status") or "active"
    if status not in ("active", "inactive"):
        raise BadRequest(f"invalid status: {status}")
    limit = limit_param(request, 100, 10000)
    token = decode_token(request.query.get("page_token"))
    ok = contract_filter(request, default_lte=next_weekend(ny_date(now)))
    unders = [s.upper() for s in wire.query_list(request.query.get("underlying_symbols"))]
    root = (request.query.get("root_symbol") or "").upper()
    if not unders:
        unders = [root] if root else st.market.symbols()
    items: list[OptionContract] = []
    if status == "active":
        for u in sorted(set(unders)):
            if st.market.has_symbol(u):
                items.extend(c for c in st.market.options.contracts(u, now) if ok(c))
    items.sort(key=lambda c: c.symbol)
    page, nxt = _page(items, lambda c: c.symbol, limit, token)
    return wire.json_response({"option_contracts": [contract_json(st, c, now) for c in page], "next_page_token": nxt})


@guarded
async def get_contract(request: web.Request) -> web.Response:
    st = state_of(request)
    key = request.match_info["symbol_or_id"]
    book = st.market.options
    occ = book.symbol_for_id(key) or key.upper()
    now = st.clock.now()
    status = book.status(occ, now)
    if status is None:
        return wire.not_found(f"option contract {key} not found")
    return wire.json_response(contract_json(st, book.contract(occ), now, status))


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1beta1/options/snapshots", snapshots)
    r.add_get("/v1beta1/options/snapshots/{underlying_symbol}", chain)
    r.add_get("/v1beta1/options/quotes/latest", latest_quotes)
    r.add_get("/v1beta1/options/trades/latest", latest_trades)
    r.add_get("/v1beta1/options/meta/exchanges", exchanges)
    r.add_get("/v2/options/contracts", list_contracts)
    r.add_get("/v2/options/contracts/{symbol_or_id}", get_contract)
