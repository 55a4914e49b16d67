"""The option market-data websocket of the local exchange (alpaca-py's ``OptionDataStream``):
``/v1beta1/indicative`` (the free feed) and ``/v1beta1/opra``.

Same protocol as the stock stream (:mod:`stockbot.sim.stream`: connect, auth, subscribe, the same
error codes), msgpack only (Alpaca's option streams have no JSON mode), channels ``quotes`` and
``trades`` for listed OCC symbols (no ``*``). Quotes are the snapshot quotes the REST routes serve
at the same instant (American prices, never crossing intrinsic), ``per_symbol_rate`` a second per
contract. Trades come from the option tape (:mod:`stockbot.sim.market_option_trades`); on the
indicative feed they arrive 15 minutes late, as Alpaca delays them there.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from stockbot.sim.stream import Conn, StreamHub, _ts_obj

OPTION_STREAM_PATHS = {"/v1beta1/indicative": 900.0, "/v1beta1/opra": 0.0}  # path -> trade delay (s)
OPTION_CHANNELS = ("trades", "quotes")
UTC = timezone.utc


class OptionStreamHub(StreamHub):
    """The option stream's connections; a sibling of the stock hub with its own counters."""

    msgpack_only = True

    def __init__(self, clock, market, accounts, **kwargs) -> None:
        super().__init__(clock, market, accounts, **kwargs)
        self.counters.setdefault("option_quotes", 0)

    def _listed(self, sym: str) -> bool:
        return self.market.options.is_listed(sym, self.clock.now())

    async def _subscribe(self, c: Conn, action: dict, add: bool) -> None:
        new = {ch: set(v) for ch, v in c.subs.items()}
        for ch in OPTION_CHANNELS:
            syms = action.get(ch) or []
            if not isinstance(syms, list):
                await self._error(c, 400, "invalid syntax")
                return
            syms = {str(s).upper() for s in syms}
            if "*" in syms:
                await self._error(c, 400, "invalid syntax")  # no wildcard on the option streams
                return
            new[ch] = (new[ch] | syms) if add else (new[ch] - syms)
        total = len(set().union(*(new[ch] for ch in OPTION_CHANNELS)))
        if self.symbol_limit is not None and total > self.symbol_limit:
            await self._error(c, 405, "symbol limit exceeded")
            return
        c.subs = new
        c.quote_list = self._targets(c, "quotes")
        await self._send(c, [{"T": "subscription", **{ch: sorted(new[ch]) for ch in OPTION_CHANNELS}}])

    def _targets(self, c: Conn, channel: str) -> list[str]:
        return sorted(s for s in c.subs[channel] if self._listed(s))

    def _quote_msgs(self, syms: list[str], t: float) -> list[dict]:
        now = datetime.fromtimestamp(t, UTC)
        book = self.market.options
        out = []
        for sym in syms:
            try:
                s = book.snapshot(sym, now)
            except KeyError:  # expired since it was subscribed
                continue
            out.append({"T": "q", "S": sym, "t": _ts_obj(t), "bx": "C", "bp": s.bid, "bs": s.bid_size, "ax": "C",
                        "ap": s.ask, "as": s.ask_size, "c": "A"})
        return out

    def _trade_msgs(self, c: Conn, t_prev: float, t_now: float) -> list[dict]:
        delay = OPTION_STREAM_PATHS.get(c.request.path, 0.0)
        book = self.market.options
        out = []
        for sym in self._targets(c, "trades"):
            contract = book.contract(sym)
            for tt, price, size in book.tape.trades(contract, t_prev - delay + 1e-6, t_now - delay):
                out.append({"T": "t", "S": sym, "t": _ts_obj(tt), "x": "C", "p": price, "s": size, "c": "I"})
        return out

    async def _emit(self, c: Conn) -> None:
        """Quotes (round-robin at ``per_symbol_rate`` per contract) and tape trades until close."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        owed = 0.0
        t_prev = self.clock.now_epoch()
        try:
            while not c.closed:
                rate = self._rate(c)
                await asyncio.sleep(0.25 if rate <= 0 else min(0.25, max(0.02, 1.0 / rate)))
                now = loop.time()
                owed = min(owed + (now - last) * rate, rate * 0.5 + 1.0)  # drop, never burst
                last = now
                t_now = self.clock.now_epoch()
                if self.silent:
                    owed, t_prev = 0.0, t_now
                    continue
                n = min(int(owed), len(c.quote_list) * 4)
                if n > 0 and c.quote_list:
                    owed -= n
                    syms = [c.quote_list[(c.rr + i) % len(c.quote_list)] for i in range(n)]
                    c.rr = (c.rr + n) % len(c.quote_list)
                    msgs = self._quote_msgs(syms, t_now)
                    if msgs:
                        await self._send(c, msgs)
                        self.counters["option_quotes"] += len(msgs)
                if c.subs["trades"] and t_now > t_prev:
                    msgs = self._trade_msgs(c, t_prev, t_now)
                    if msgs:
                        await self._send(c, msgs)
                        self.counters["trades"] += len(msgs)
                t_prev = max(t_prev, t_now)
        except asyncio.CancelledError:
            pass
