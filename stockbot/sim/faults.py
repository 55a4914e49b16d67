"""Injected faults and the per-account rate limit of the local exchange.

``stockbot.sim.middleware.sim_middleware`` wraps every request: it logs it (``SimState.requests``), applies latency and
error faults, authenticates Trading API calls (401 JSON for wrong keys) and counts them against
the account's rate limit (200/min by default, Alpaca's ``X-RateLimit-*`` headers on every answer,
429 / 42910000 beyond it). The admin API (``/_sim/...``) is never faulted or rate limited.

A fault is a rule added through ``POST /_sim/faults`` (or ``--fault JSON`` on the command line):

| kind | what it does |
|---|---|
| ``http_error`` | answer matching requests with ``status`` (default 500). ``after: true`` runs the request first and then answers with the error: e.g. a 504 *after* the order was accepted, so the client sees an error but the order exists. ``body``: ``json`` (Alpaca error JSON), ``html`` or ``empty``. |
| ``rate_limit`` | answer matching requests with 429 / 42910000 and ``X-RateLimit-*`` headers. |
| ``latency`` | delay matching requests by ``ms`` milliseconds. |
| ``reject_orders`` | refuse the next ``times`` valid orders with ``status``/``code``/``message`` (default 403 / 40310000). |
| ``reject_as`` | refuse the next matching orders (``times``) as Alpaca refuses them for ``reason``: ``insufficient_qty``, ``held_for_orders``, ``buying_power``, ``pattern_day_trader`` (40310100), ``options_tif`` (422), ``uncovered``, ``options_level`` — the codes and messages of ``exchange_rules`` (optional ``symbols``: only orders touching one of them). |
| ``reject_single_leg_options`` | the "non-mleg multi-order partial-fill" mode: single-leg option orders for ``symbols`` (``"*"`` = every option; optional ``sides``) are refused (default 403 / 40310000), mleg orders are not. Sequential legs then leave a naked short (the LL-221 failure). |

Common fields: ``method`` (e.g. ``"POST"``), ``path`` (a regular expression that must match the
whole path, e.g. ``"/v2/orders"`` or ``"/v2/orders/.*"``), ``key_id`` (one account only),
``times`` (how many requests it hits; absent or null = until removed).
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from stockbot.options.occ import is_occ_symbol
from stockbot.sim.exchange_model import SimError
from stockbot.sim.wire import CODE_FORBIDDEN, CODE_RATE_LIMIT

STREAM_PATHS = frozenset({"/v2/iex", "/v2/sip", "/v2/test", "/v2/delayed_sip", "/v1beta1/indicative",
                          "/v1beta1/opra"})
DATA_PREFIXES = ("/v2/stocks", "/v1beta1/", "/v1beta3/")
MAX_BODY_LOG = 8192

KINDS = ("http_error", "rate_limit", "latency", "reject_orders", "reject_single_leg_options", "reject_as")
_DEFAULT_STATUS = {"http_error": 500, "rate_limit": 429, "reject_orders": 403, "reject_single_leg_options": 403,
                   "reject_as": 403}
_DEFAULT_MESSAGE = {
    500: "internal server error", 502: "bad gateway", 503: "service unavailable", 504: "gateway timeout",
    429: "rate limit exceeded",
}


@dataclass
class FaultRule:
    id: int
    kind: str
    method: str | None = None
    path: str | None = None
    key_id: str | None = None
    status: int = 0
    code: int | None = None
    message: str | None = None
    times: int | None = None
    after: bool = False
    body: str = "json"
    ms: int = 0
    symbols: list[str] = field(default_factory=list)
    sides: list[str] = field(default_factory=list)
    reason: str = ""
    hits: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, method: str, path: str, key_id: str | None) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.key_id and self.key_id != key_id:
            return False
        if self.path and not re.fullmatch(self.path, path):
            return False
        return True

    def consume(self) -> None:
        self.hits += 1
        if self.times is not None:
            self.times -= 1

    def error_code(self) -> int:
        return self.code if self.code is not None else self.status * 100000

    def error_message(self) -> str:
        return self.message or _DEFAULT_MESSAGE.get(self.status, "rejected by a sim fault")


class Faults:
    """The active fault rules of one sim."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, data: dict[str, Any]) -> FaultRule:
        """Add a rule from its JSON form; ValueError for an unknown kind or field."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        known = set(FaultRule.__dataclass_fields__) - {"id", "hits"}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown fault fields: {sorted(extra)}")
        kw = dict(data)
        kw.setdefault("status", _DEFAULT_STATUS.get(kind, 0))
        if kind == "latency" and int(kw.get("ms", 0)) <= 0:
            raise ValueError("a latency fault needs ms > 0")
        if kind == "reject_as":
            from stockbot.sim.exchange_rules import REASONS

            if kw.get("reason") not in REASONS:
                raise ValueError(f"reject_as needs a reason: one of {', '.join(REASONS)}")
        if kind == "reject_single_leg_options" and not kw.get("symbols"):
            raise ValueError("reject_single_leg_options needs symbols (or [\"*\"])")
        if kw.get("body", "json") not in ("json", "html", "empty"):
            raise ValueError("body must be json, html or empty")
        if kw.get("path"):
            re.compile(kw["path"])
        for name in ("status", "ms"):
            kw[name] = int(kw.get(name, 0))
        if kw.get("times") is not None:
            kw["times"] = int(kw["times"])
        rule = FaultRule(id=next(self._ids), **kw)
        self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def take(self, kind: str, method: str, path: str, key_id: str | None) -> FaultRule | None:
        """The first live rule of ``kind`` matching this request, consumed once."""
        for rule in self._rules:
            if rule.kind == kind and rule.matches(method, path, key_id):
                rule.consume()
                return rule
        return None

    def latency_s(self, method: str, path: str, key_id: str | None) -> float:
        rule = self.take("latency", method, path, key_id)
        return rule.ms / 1000.0 if rule else 0.0

    def check_order(self, key_id: str, spec) -> None:
        """Raise the SimError of a rule that refuses this (already validated) order."""
        for rule in self._rules:
            if not rule.matches("POST", "/v2/orders", key_id) or rule.kind not in (
                    "reject_orders", "reject_single_leg_options", "reject_as"):
                continue
            if rule.kind == "reject_single_leg_options" and not self._single_leg_hit(rule, spec):
                continue
            if rule.kind == "reject_as":
                touched = {leg.symbol for leg in spec.legs} | ({spec.symbol} if spec.symbol else set())
                if rule.symbols and not touched.intersection(rule.symbols):
                    continue
                rule.consume()
                from stockbot.sim.exchange_rules import num, refusal

                raise refusal(rule.reason, requested=num(spec.qty))
            rule.consume()
            raise SimError(rule.status, rule.code if rule.code is not None else CODE_FORBIDDEN,
                           rule.message or "order rejected")

    @staticmethod
    def _single_leg_hit(rule: FaultRule, spec) -> bool:
        if spec.order_class == "mleg" or not is_occ_symbol(spec.symbol):
            return False
        if rule.sides and spec.side not in rule.sides:
            return False
        return "*" in rule.symbols or spec.symbol in rule.symbols

    def response(self, rule: FaultRule, limit: int) -> web.Response:
        """The HTTP answer of an ``http_error`` or ``rate_limit`` rule."""
        headers = {}
        if rule.status == 429:
            headers = rate_headers(limit, 0, int(time.time()) + 60)
        if rule.body == "html":
            return web.Response(status=rule.status, text=f"<html><body><h1>{rule.status}</h1></body></html>",
                                content_type="text/html", headers=headers)
        if rule.body == "empty":
            return web.Response(status=rule.status, headers=headers)
        code = CODE_RATE_LIMIT if rule.kind == "rate_limit" and rule.code is None else rule.error_code()
        return web.json_response({"code": code, "message": rule.error_message()}, status=rule.status, headers=headers)


def rate_headers(limit: int, remaining: int, reset_epoch: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": str(reset_epoch)}


class RateLimiter:
    """Fixed one-minute windows per (account, API): Alpaca's 200 requests/min by default.
    Uses the wall clock (a rate is about real time, not the sim clock)."""

    def __init__(self, per_min: int = 200) -> None:
        self.per_min = per_min
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, key: tuple[str, str], limit: int | None = None) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, headers)."""
        limit = limit or self.per_min
        now = time.time()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= 60:
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        headers = rate_headers(limit, limit - count, int(start + 60))
        return count <= limit, headers

    def reset(self) -> None:
        self._windows.clear()
