"""`stockbot sim`: a local Alpaca-compatible exchange on loopback.

One aiohttp server serves the Trading API (``/v2/...``), market data (``/v2/stocks``,
``/v1beta1/options``), the msgpack quote stream (``/v2/iex|sip|test``), the scripted LLM endpoint
(``/v1/chat/completions``) and the admin API (``/_sim/...``); the option stream is
``/v1beta1/indicative|opra``. The real alpaca-py clients work against it unchanged
(``TradingClient(key, secret, paper=True, url_override=url)``). This module only builds and runs
the app: what the routes share lives in :mod:`stockbot.sim.state` and :mod:`stockbot.sim.route_params`.

Use it in-process (``async with SimServer() as sim: sim.url``), from sync code in a thread
(``with run_in_thread() as sim: sim.url``) or from the command line (:func:`main`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

# The state first: a module that still imports SIM_KEY from here finds it (tests/sim/test_import_cycles
# flags such a module as a circle).
from stockbot.sim.state import ACCOUNT_KEY, SIM_KEY, SimState  # noqa: F401 - re-exported for callers of the app
from stockbot.sim import admin, agents, data_routes, expiry_routes, persist, stream_routes, trading_routes
from stockbot.sim.accounts import Accounts, demo_spec
from stockbot.sim.exchange import Exchange
from stockbot.sim.faults import Faults, RateLimiter
from stockbot.sim.market import Market
from stockbot.sim.option_stream import OptionStreamHub
from stockbot.sim.request_log import RequestLog
from stockbot.sim.stream import StreamHub
from stockbot.sim.middleware import sim_middleware

DEFAULT_RATE_LIMIT = 200


def build_app(state: SimState) -> web.Application:
    """The aiohttp application: trading, data, stream, scripted agents and admin routes."""
    app = web.Application(middlewares=[sim_middleware], client_max_size=4 * 1024 * 1024)
    app[SIM_KEY] = state
    trading_routes.register(app)
    data_routes.register(app)
    stream_routes.register(app)
    agents.register(app)
    admin.register(app)
    expiry_routes.register(app)  # exercise, account activities, early-assignment admin
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    state = app[SIM_KEY]
    if state.persister is not None:
        state.persister.start()
    state.extra["tick_task"] = asyncio.get_running_loop().create_task(_tick(state))


async def _on_cleanup(app: web.Application) -> None:
    state = app[SIM_KEY]
    task = state.extra.pop("tick_task", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    if state.persister is not None:
        await state.persister.stop()


async def _tick(state: SimState) -> None:
    """Drive working orders, expiry and settlement with the clock even when nobody asks."""
    while True:
        await asyncio.sleep(state.tick_s)
        try:
            state.exchange.process_all()
        except Exception as exc:  # keep ticking; the next request reports real errors
            print(f"stockbot sim: tick failed: {exc!r}", file=sys.stderr)



class SimServer:
    """One sim, in-process: ``url = await sim.start()`` ... ``await sim.stop()``, or
    ``async with SimServer(...) as sim``. Extra keyword arguments: ``start_at`` (put the clock at
    this instant; it keeps running), ``freeze`` (stop the clock there: prices and time move only
    by ``clock.jump``), ``rate_limit_per_min``, ``mleg_fill`` ("touch"/"mid"), ``tick_s``,
    ``faults`` (a list of fault rules as JSON) and ``symbols`` (the market's universe)."""

    def __init__(self, *, seed: int = 0, always_open: bool = False, state_file: Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, accounts: list | None = None,
                 bars_csv: Path | None = None, quote_rate: float | None = None,
                 start_at: datetime | None = None, freeze: bool = False,
                 rate_limit_per_min: int = DEFAULT_RATE_LIMIT, mleg_fill: str = "touch",
                 tick_s: float = 0.5, faults: list[dict] | None = None, symbols: list[str] | None = None) -> None:

        self.host, self.port = host, port
        self.url = ""
        saved = persist.load(state_file) if state_file is not None else None
        clock = _make_clock(always_open, start_at, freeze, saved)
        market = Market(clock, seed=seed, symbols=symbols, bars_csv=bars_csv)
        now = clock.now()
        fault_set = Faults()
        for rule in faults or []:
            fault_set.add(rule)
        accts = Accounts([], now=now, today=now.date())
        exchange = Exchange(clock, market, accts, seed=seed, faults=fault_set)
        today = exchange.last_close_date(now)
        if saved is not None:
            for account in persist.restore_accounts(saved):
                accts.restore(account)
            exchange.order_seq = int(saved.get("order_seq", 0))
        for spec in (accounts if accounts is not None else [demo_spec()]):
            if accts.get(spec.key_id) is None:
                accts.add(spec, now=now, today=today)
        exchange.mleg_fill = mleg_fill
        stream = StreamHub(clock, market, accts)
        if quote_rate is not None:
            stream.set_quote_rate(quote_rate)
        self.state = SimState(clock=clock, market=market, accounts=accts, exchange=exchange, faults=fault_set,
                              stream=stream, requests=RequestLog(), option_stream=OptionStreamHub(clock, market, accts),
                              limiter=RateLimiter(rate_limit_per_min),
                              tick_s=tick_s)
        if state_file is not None:
            self.state.persister = persist.Persister(
                Path(state_file), lambda: persist.snapshot(accts, order_seq=exchange.order_seq, clock=clock))
            exchange.on_change = self.state.persister.mark_dirty
        self.app = build_app(self.state)
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Serve on ``host:port`` (port 0 = a free one); returns the base URL."""
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server is not None else []  # noqa: SLF001 - aiohttp has no public port API
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Stop serving; with a state file the final state is written."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "SimServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _make_clock(always_open: bool, start_at: datetime | None, freeze: bool, saved: dict | None):
    from stockbot.sim.clock import SimClock

    if start_at is not None:
        if freeze:
            return SimClock(always_open=always_open, frozen_at=start_at)
        return SimClock(always_open=always_open, offset_s=(start_at - datetime.now(timezone.utc)).total_seconds())
    if saved is not None and saved.get("clock"):
        c = saved["clock"]
        frozen = datetime.fromisoformat(c["frozen_at"]) if c.get("frozen_at") else None
        clock = SimClock(always_open=always_open, offset_s=float(c.get("offset_s", 0.0)), frozen_at=frozen)
        return clock
    if freeze:
        return SimClock(always_open=always_open, frozen_at=datetime.now(timezone.utc))
    return SimClock(always_open=always_open)


class RunningSim:
    """A sim serving from its own thread and event loop (sync tests, other processes' helpers).
    ``.url``, ``.state``, ``.call(fn, *args)`` (run ``fn`` on the sim's loop and return its result),
    ``.admin(method, path, body=None)`` (JSON admin call), ``.stop()``; also a context manager."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.server: SimServer | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, name="stockbot-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("stockbot sim did not start within 60 s")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.server = SimServer(**self._kwargs)
            self.url = self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # report to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.stop())
        self._loop.close()

    @property
    def state(self) -> SimState:
        assert self.server is not None
        return self.server.state

    def call(self, fn, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the sim's loop (thread-safe access to the state)."""
        async def run():
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API (``/_sim/...``) synchronously; returns parsed JSON (or None)."""
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method.upper(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> "RunningSim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(**kwargs: Any) -> RunningSim:
    """Start a sim (``SimServer`` keyword arguments) in a background thread; use as a context
    manager or call ``.stop()``."""
    return RunningSim(**kwargs)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="stockbot sim", description="Local Alpaca-compatible exchange on loopback.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    p.add_argument("--port", type=int, default=0, help="port (0 = a free one; the URL is printed)")
    p.add_argument("--state", type=Path, default=None, help="persist accounts, orders and positions here")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated market")
    p.add_argument("--always-open", action="store_true", help="the market is open at every hour")
    p.add_argument("--bars-csv", type=Path, default=None, help="daily bars to replay (CSV)")
    p.add_argument("--quote-rate", type=float, default=None, help="stream quotes per second per symbol")
    p.add_argument("--account", action="append", default=[], metavar="KEY:SECRET[:k=v,...]",
                   help="an extra account, e.g. KEY2:SECRET2:equity=50000,multiplier=1,shorting=0,options_level=2")
    p.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT, help="requests/min per account")
    p.add_argument("--mleg-fill", choices=("touch", "mid"), default="touch", help="mleg fill prices")
    p.add_argument("--fault", action="append", default=[], metavar="JSON",
                   help='a fault rule, as POST /_sim/faults takes it, e.g. \'{"kind":"latency","ms":200}\'')
    p.add_argument("--latency-ms", type=int, default=0, help="add this latency to every request")
    p.add_argument("--reject-orders", type=int, default=0, metavar="N", help="reject the next N orders (403)")
    p.add_argument("--reject-single-leg", default="", metavar="SYMS",
                   help='reject single-leg option orders for these symbols (comma list or "*")')
    p.add_argument("--start-at", default=None, metavar="RFC3339", help="put the sim clock at this instant")
    p.add_argument("--freeze", action="store_true", help="stop the sim clock (it moves only by /_sim/clock/jump)")
    p.add_argument("--stream-silent", action="store_true", help="the quote stream sends no data")
    p.add_argument("--stream-multiple", action="store_true",
                   help="allow several stream connections per key (default: the 2nd gets 406)")
    from stockbot.sim.fill_settings import add_cli_args

    add_cli_args(p)  # --fill-chance, --fill-delay-s
    return p.parse_args(argv)


def _account_arg(text: str):
    from stockbot.sim.accounts import AccountSpec

    parts = text.split(":", 2)
    if len(parts) < 2:
        raise SystemExit(f"--account needs KEY:SECRET, got {text!r}")
    data: dict[str, Any] = {"key_id": parts[0], "secret": parts[1]}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            name, _, value = item.partition("=")
            data[name.strip()] = value.strip()
    return AccountSpec.from_dict(data)


def main(argv: list[str] | None = None) -> int:
    """``stockbot sim``: serve until SIGINT/SIGTERM; prints the base URL and the demo keys."""
    from stockbot.sim.accounts import DEMO_KEY_ID, DEMO_SECRET, demo_spec

    args = _parse_args(argv)
    faults = [json.loads(f) for f in args.fault]
    if args.latency_ms:
        faults.append({"kind": "latency", "ms": args.latency_ms})
    if args.reject_orders:
        faults.append({"kind": "reject_orders", "times": args.reject_orders})
    if args.reject_single_leg:
        faults.append({"kind": "reject_single_leg_options",
                       "symbols": [s.strip() for s in args.reject_single_leg.split(",") if s.strip()]})
    accounts = [demo_spec()] + [_account_arg(a) for a in args.account]
    from stockbot.sim.wire import parse_rfc3339

    server = SimServer(seed=args.seed, always_open=args.always_open, state_file=args.state, host=args.host,
                       port=args.port, accounts=accounts, bars_csv=args.bars_csv, quote_rate=args.quote_rate,
                       rate_limit_per_min=args.rate_limit, mleg_fill=args.mleg_fill, faults=faults,
                       start_at=parse_rfc3339(args.start_at) if args.start_at else None, freeze=args.freeze)
    server.state.stream.set_silent(args.stream_silent)
    from stockbot.sim.fill_settings import apply_cli

    apply_cli(args, server)
    server.state.stream.allow_multiple_connections(args.stream_multiple)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        url = await server.start()
        print(f"stockbot sim listening on {url}", flush=True)
        print(f"  APCA-API-KEY-ID={DEMO_KEY_ID}", flush=True)
        print(f"  APCA-API-SECRET-KEY={DEMO_SECRET}", flush=True)
        print(f"  ALPACA_BASE_URL={url}  (TradingClient(url_override=...), data clients url_override={url})",
              flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()
            print("stockbot sim stopped", flush=True)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m stockbot.sim.app`
    # Run the imported module's main: this file as __main__ would define a second SIM_KEY.
    from stockbot.sim.app import main as _main

    raise SystemExit(_main())
