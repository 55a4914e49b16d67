"""Lesson guards: small declarative rules the risk gate enforces before every order.

A guard is written in a lesson's front matter, e.g. ``guard: {kind: require_mleg}``, and parsed
into an object with ``.lesson_id`` and ``.check(intent, ctx) -> str | None`` (None = allowed, a
string = the denial reason, citing the lesson). Checks are pure functions of the order intent and
the trade context.

Kinds (every kind also takes an optional ``strategy:`` that limits it to one strategy):

==========================  ==========================================  =============  =========
kind                        params                                      applies to     draft-safe
==========================  ==========================================  =============  =========
require_mleg                -                                           every order    yes
close_via_close_position    -                                           closing orders yes
require_limit               asset_class: option|equity|any (option)     entries        yes
block_symbol                symbol                                      entries        no
max_qty                     qty (> 0), symbol (optional)                entries        no
min_iv_rank                 value (0..1, IV rank as a fraction)         entries        no
no_entry_window             start, end ("HH:MM"), tz, days (optional)   entries        no
max_quote_age               seconds (> 0)                               entries        no
==========================  ==========================================  =============  =========

Every kind also takes a scope and an end (all optional):

* ``symbols: [SPY, QQQ]`` - only orders touching these symbols (or option legs on them);
* ``orders: [mleg, option, entry, ...]`` - only orders of these kinds (ORDER_KINDS; any one matches);
* ``expires: YYYY-MM-DD`` - the guard stops enforcing after that day (and says so);
* ``review_by: YYYY-MM-DD`` - the guard keeps enforcing, but is reported as due for review.

Guards that only constrain entries never block an order that reduces risk (a close, an orphan
flatten). "Draft-safe" guards only forbid orders that are unsafe in themselves, so a lesson that
is still a draft already enforces them, and so does a ``block_symbol`` that expires within
DRAFT_BLOCK_MAX_DAYS of the lesson's date (one symbol, for a bounded time); the others are only
*proposed* until a person confirms the lesson (see ``enforcement.py``). Unknown kinds and bad
parameters raise LessonError when the lesson is loaded, naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stockbot.domain import AssetClass, OrderClass, OrderIntent, OrderPurpose, PositionIntent, TradeContext
from stockbot.lessons.errors import LessonError

# The purpose an OrderIntent carries when the engine closes a single position through the
# broker's close_position() (LL-282). Hand-built closing counter-orders carry anything else.
CLOSE_POSITION_PURPOSE = OrderPurpose.CLOSE_POSITION
_CLOSING_INTENTS = {PositionIntent.BUY_TO_CLOSE, PositionIntent.SELL_TO_CLOSE}
_CLOSING_PURPOSES = ("close", "exit", "flatten", "orphan", "liquidat", "stop_loss", "take_profit")
_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9./-]{0,20}$")
_OCC_ROOT_RE = re.compile(r"^([A-Z][A-Z0-9]{0,5})\d{6}[CP]\d{8}$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What ``orders:`` may name. An intent has several kinds at once (e.g. mleg + option + limit + entry).
ORDER_KINDS = ("mleg", "simple", "option", "equity", "limit", "market", "entry", "close")
SCOPE_KEYS = ("strategy", "symbols", "orders", "expires", "review_by")
# A draft's block_symbol enforces before confirmation only when it ends this soon (days after the
# lesson's date): a captured lesson may stop one symbol for a week, never trading at large.
DRAFT_BLOCK_MAX_DAYS = 7


def order_kinds(intent: OrderIntent) -> set[str]:
    """The ORDER_KINDS an intent belongs to."""
    kinds = {intent.order_class.value, "close" if is_closing(intent) else "entry"}
    is_option = intent.asset_class is AssetClass.OPTION or intent.option_leg_count > 0
    kinds.add("option" if is_option else "equity")
    order_type = (intent.order_type or "").lower()
    if order_type in ("limit", "market"):
        kinds.add(order_type)
    return kinds


def is_closing(intent: OrderIntent) -> bool:
    """True when the order reduces an existing position (closing intents or a closing purpose)."""
    if intent.position_intent in _CLOSING_INTENTS:
        return True
    if intent.legs and all(leg.position_intent in _CLOSING_INTENTS for leg in intent.legs):
        return True
    purpose = (intent.purpose or "").strip().lower()
    return purpose == CLOSE_POSITION_PURPOSE or purpose.startswith(_CLOSING_PURPOSES)


def underlying_of(symbol: str) -> str:
    """The underlying of an OCC option symbol, or the symbol itself for stocks."""
    m = _OCC_ROOT_RE.fullmatch(symbol or "")
    return m.group(1) if m else (symbol or "")


def order_symbols(intent: OrderIntent) -> set[str]:
    """Every symbol an order touches, plus the underlyings of option legs."""
    raw = {s for s in [intent.symbol, *(leg.symbol for leg in intent.legs)] if s}
    return raw | {underlying_of(s) for s in raw}


@dataclass(frozen=True)
class Guard:
    """Base class. Subclasses set ``kind``, parse params in ``_parse`` and implement ``_deny``."""

    lesson_id: str
    spec: Mapping[str, Any] = field(compare=False)
    strategy: str | None = None
    symbols: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    expires: date | None = None
    review_by: date | None = None

    kind: ClassVar[str] = ""
    draft_safe: ClassVar[bool] = False
    entries_only: ClassVar[bool] = True
    params: ClassVar[tuple[str, ...]] = ()

    def check(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        """None if ``intent`` is allowed in ``ctx``; otherwise the denial reason (cites the lesson)."""
        if not self.applies(intent, ctx):
            return None
        if self.entries_only and is_closing(intent):
            return None
        why = self._deny(intent, ctx)
        return f"{self.lesson_id} ({self.kind}): {why}" if why else None

    def applies(self, intent: OrderIntent, ctx: TradeContext) -> bool:
        """Inside the guard's scope (strategy, symbols, order kinds) and not expired at ``ctx.now``."""
        if self.is_expired(ctx.now):
            return False
        if self.strategy and ctx.strategy != self.strategy:
            return False
        if self.symbols:
            touched = order_symbols(intent) | ({ctx.symbol.upper()} if ctx.symbol else set())
            if not touched & set(self.symbols):
                return False
        if self.orders and not order_kinds(intent) & set(self.orders):
            return False
        return True

    def is_expired(self, now: datetime | date) -> bool:
        """True after the ``expires`` day (New York date, the trading day the operator means)."""
        if self.expires is None:
            return False
        return _ny_date(now) > self.expires

    def review_due(self, now: datetime | date) -> bool:
        return self.review_by is not None and _ny_date(now) > self.review_by

    @property
    def blocking(self) -> bool:
        """False for guards that only require a safe form of an order (draft-safe kinds)."""
        return not self.draft_safe

    def scope_text(self) -> str:
        """Human summary of what the guard applies to and until when (for list/show/status)."""
        parts = [f"strategy={self.strategy or 'any'}", f"symbols={','.join(self.symbols) or 'any'}",
                 f"orders={','.join(self.orders) or 'any'}"]
        if self.expires:
            parts.append(f"expires={self.expires.isoformat()}")
        if self.review_by:
            parts.append(f"review_by={self.review_by.isoformat()}")
        return " ".join(parts)

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class RequireMleg(Guard):
    kind: ClassVar[str] = "require_mleg"
    draft_safe: ClassVar[bool] = True
    entries_only: ClassVar[bool] = False

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        if intent.option_leg_count > 1 and intent.order_class is not OrderClass.MLEG:
            return (f"an order with {intent.option_leg_count} option legs must be sent as one atomic "
                    f"order_class=mleg order, not {intent.order_class.value} (legs sent one by one can "
                    "fill partially and leave an orphan)")
        return None


@dataclass(frozen=True)
class CloseViaClosePosition(Guard):
    kind: ClassVar[str] = "close_via_close_position"
    draft_safe: ClassVar[bool] = True
    entries_only: ClassVar[bool] = False

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        if not is_closing(intent) or intent.legs or intent.order_class is OrderClass.MLEG:
            return None
        if (intent.purpose or "").strip().lower() == CLOSE_POSITION_PURPOSE:
            return None
        return (f"closing {intent.symbol or '?'} with a hand-built counter-order; close single "
                "positions through the broker's close_position()")


@dataclass(frozen=True)
class RequireLimit(Guard):
    asset_class: str = "option"
    kind: ClassVar[str] = "require_limit"
    draft_safe: ClassVar[bool] = True
    params: ClassVar[tuple[str, ...]] = ("asset_class",)

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        value = str(spec.get("asset_class", "option")).lower()
        if value not in ("option", "equity", "any"):
            raise ValueError(f"asset_class must be option, equity or any, got {value!r}")
        return {"asset_class": value}

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        is_option = intent.asset_class is AssetClass.OPTION or intent.option_leg_count > 0
        if self.asset_class == "option" and not is_option:
            return None
        if self.asset_class == "equity" and is_option:
            return None
        if (intent.order_type or "").lower() == "market":
            return f"market orders are not allowed here ({self.asset_class}); use a limit price"
        return None


@dataclass(frozen=True)
class BlockSymbol(Guard):
    symbol: str = ""
    kind: ClassVar[str] = "block_symbol"
    params: ClassVar[tuple[str, ...]] = ("symbol",)

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        return {"symbol": _symbol(spec.get("symbol"))}

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        touched = order_symbols(intent) | {ctx.symbol.upper()} if ctx.symbol else order_symbols(intent)
        if self.symbol in touched:
            return f"new entries in {self.symbol} are blocked"
        return None


@dataclass(frozen=True)
class MaxQty(Guard):
    qty: Decimal = Decimal(0)
    symbol: str | None = None
    kind: ClassVar[str] = "max_qty"
    params: ClassVar[tuple[str, ...]] = ("qty", "symbol")

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        raw = spec.get("qty")
        try:
            qty = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            raise ValueError(f"qty must be a positive number, got {raw!r}") from None
        if isinstance(raw, bool) or raw is None or not qty.is_finite() or qty <= 0:
            raise ValueError(f"qty must be a positive number, got {raw!r}")
        sym = spec.get("symbol")
        return {"qty": qty, "symbol": _symbol(sym) if sym is not None else None}

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        if self.symbol and self.symbol not in order_symbols(intent) | {(ctx.symbol or "").upper()}:
            return None
        if intent.qty > self.qty:
            return f"quantity {intent.qty} exceeds the cap of {self.qty}"
        return None


@dataclass(frozen=True)
class MinIvRank(Guard):
    value: float = 0.0
    kind: ClassVar[str] = "min_iv_rank"
    params: ClassVar[tuple[str, ...]] = ("value",)

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        value = _number(spec.get("value"), "value")
        if not 0 <= value <= 1:
            raise ValueError(f"value is an IV rank fraction in [0, 1], got {value}")
        return {"value": value}

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        if ctx.iv_rank is None:
            return f"IV rank is unknown; entries need IV rank >= {self.value:.2f}"
        if ctx.iv_rank < self.value:
            return f"IV rank {ctx.iv_rank:.2f} is below the minimum {self.value:.2f}"
        return None


@dataclass(frozen=True)
class NoEntryWindow(Guard):
    start: time = time(0)
    end: time = time(0)
    tz: str = "America/New_York"
    days: tuple[str, ...] = ()
    kind: ClassVar[str] = "no_entry_window"
    params: ClassVar[tuple[str, ...]] = ("start", "end", "tz", "days")

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        start, end = _hhmm(spec.get("start"), "start"), _hhmm(spec.get("end"), "end")
        if start == end:
            raise ValueError("start and end must differ")
        tz = str(spec.get("tz") or "America/New_York")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        days = spec.get("days") or []
        if isinstance(days, str):
            days = [days]
        days = tuple(str(d).lower()[:3] for d in days)
        bad = [d for d in days if d not in _DAYS]
        if bad:
            raise ValueError(f"days must be among {', '.join(_DAYS)}, got {bad}")
        return {"start": start, "end": end, "tz": tz, "days": days}

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        local = ctx.now.astimezone(ZoneInfo(self.tz))
        if self.days and _DAYS[local.weekday()] not in self.days:
            return None
        t = local.time()
        inside = self.start <= t < self.end if self.start < self.end else (t >= self.start or t < self.end)
        if inside:
            return (f"no new entries between {self.start:%H:%M} and {self.end:%H:%M} {self.tz} "
                    f"(now {t:%H:%M})")
        return None


@dataclass(frozen=True)
class MaxQuoteAge(Guard):
    seconds: float = 0.0
    kind: ClassVar[str] = "max_quote_age"
    params: ClassVar[tuple[str, ...]] = ("seconds",)

    @classmethod
    def _parse(cls, spec: Mapping[str, Any]) -> dict[str, Any]:
        value = _number(spec.get("seconds"), "seconds")
        if value <= 0:
            raise ValueError(f"seconds must be > 0, got {value}")
        return {"seconds": value}

    def _deny(self, intent: OrderIntent, ctx: TradeContext) -> str | None:
        if ctx.quote_age_s is None:
            return "quote age is unknown; entries need a fresh quote"
        if ctx.quote_age_s > self.seconds:
            return f"quote is {ctx.quote_age_s:.1f}s old (limit {self.seconds:g}s)"
        return None


GUARD_KINDS: dict[str, type[Guard]] = {
    cls.kind: cls for cls in (RequireMleg, CloseViaClosePosition, RequireLimit, BlockSymbol, MaxQty,
                              MinIvRank, NoEntryWindow, MaxQuoteAge)
}


def parse_guard(spec: Any, lesson_id: str, source: str = "<guard>") -> Guard:
    """Build a guard from its front-matter mapping; LessonError naming ``source`` if it is bad."""
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise LessonError(f"{source}: guard must be a mapping with a 'kind', got {spec!r}")
    kind = spec.get("kind")
    cls = GUARD_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise LessonError(f"{source}: unknown guard kind {kind!r} (known: {', '.join(sorted(GUARD_KINDS))})")
    allowed = {"kind", *SCOPE_KEYS, *cls.params}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise LessonError(f"{source}: guard {kind} does not take {', '.join(map(str, unknown))} "
                          f"(takes: {', '.join(sorted(allowed - {'kind'}))})")
    strategy = spec.get("strategy")
    if strategy is not None and strategy not in ("condor", "equity", "index"):
        raise LessonError(f"{source}: guard {kind}: strategy must be condor, equity or index, got {strategy!r}")
    try:
        params = cls._parse(spec)
        scope = _parse_scope(spec)
    except ValueError as exc:
        raise LessonError(f"{source}: guard {kind}: {exc}") from None
    spec = dict(spec)
    for key, value in params.items():  # write times back as "HH:MM" (YAML may have read 15:30 as 930)
        if isinstance(value, time) and key in spec:
            spec[key] = value.strftime("%H:%M")
    for key in ("expires", "review_by"):  # dates back as ISO text, so the spec hashes as JSON
        if scope[key] is not None:
            spec[key] = scope[key].isoformat()
    for key in ("symbols", "orders"):
        if key in spec:
            spec[key] = list(scope[key])
    return cls(lesson_id=lesson_id, spec=spec, strategy=strategy, **scope, **params)


def _parse_scope(spec: Mapping[str, Any]) -> dict[str, Any]:
    symbols = spec.get("symbols") or []
    if isinstance(symbols, str):
        symbols = [symbols]
    if not isinstance(symbols, list):
        raise ValueError(f"symbols must be a list of tickers, got {symbols!r}")
    orders = spec.get("orders") or []
    if isinstance(orders, str):
        orders = [orders]
    if not isinstance(orders, list):
        raise ValueError(f"orders must be a list of order kinds, got {orders!r}")
    orders = [str(o).strip().lower() for o in orders]
    bad = [o for o in orders if o not in ORDER_KINDS]
    if bad:
        raise ValueError(f"orders must be among {', '.join(ORDER_KINDS)}, got {bad}")
    out = {"symbols": tuple(_symbol(s) for s in symbols), "orders": tuple(orders)}
    for key in ("expires", "review_by"):
        out[key] = _date(spec.get(key), key) if spec.get(key) is not None else None
    return out


def as_date(value: Any) -> date | None:
    """A date from YAML (a date, a datetime or 'YYYY-MM-DD'), or None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _date(value: Any, name: str) -> date:
    got = as_date(value)
    if got is None:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    return got


def _ny_date(now: datetime | date) -> date:
    if isinstance(now, datetime):
        return now.astimezone(ZoneInfo("America/New_York")).date() if now.tzinfo else now.date()
    return now


def _symbol(value: Any) -> str:
    if not isinstance(value, str) or not _SYMBOL_RE.fullmatch(value.strip().upper()):
        raise ValueError(f"symbol must be a ticker like SPY, got {value!r}")
    return value.strip().upper()


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _hhmm(value: Any, name: str) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads an unquoted 15:30 as a base-60 integer (930); accept it as minutes.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError(f"{name} must be HH:MM, got {value!r}")
    hh, mm = map(int, value.strip().split(":"))
    if hh > 23 or mm > 59:
        raise ValueError(f"{name} must be HH:MM, got {value!r}")
    return time(hh, mm)
