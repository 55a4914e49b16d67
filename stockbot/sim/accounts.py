"""Accounts of the local exchange: API key pairs, settings, cash, positions and orders.

Each account is keyed by its API key pair (``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``). Several
daemons can share one sim, each with its own account; nothing is shared between accounts.
The demo account (``SIMKEY_DEMO`` / ``SIMSECRET_DEMO``) always exists unless a caller passes its
own list of ``AccountSpec``.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Iterator

from stockbot.sim.exchange_model import SimOrder, SimPosition

DEMO_KEY_ID = "SIMKEY_DEMO"
DEMO_SECRET = "SIMSECRET_DEMO"

# Fixed namespace so ids derived from key ids and symbols are stable across runs and restarts.
SIM_NAMESPACE = uuid.UUID("5d1e7a52-3c1b-4f0e-9a51-6c0f2b8e4a10")


@dataclass(frozen=True)
class AccountSpec:
    """How to create one account. ``multiplier`` is the margin multiplier (1, 2 or 4);
    ``options_level``: 0 none, 1 covered/cash-secured, 2 + long calls/puts, 3 + spreads."""

    key_id: str
    secret: str
    equity: Decimal = Decimal("100000")
    multiplier: int = 2
    shorting: bool = True
    options_level: int = 3
    account_number: str = ""
    rate_limit_per_min: int | None = None  # None: the server-wide limit

    def __post_init__(self) -> None:
        if not self.key_id or not self.secret:
            raise ValueError("an account needs a key_id and a secret")
        if self.multiplier not in (1, 2, 4):
            raise ValueError(f"multiplier must be 1, 2 or 4, not {self.multiplier}")
        if self.options_level not in (0, 1, 2, 3):
            raise ValueError(f"options_level must be 0..3, not {self.options_level}")
        object.__setattr__(self, "equity", Decimal(str(self.equity)))
        if self.equity < 0:
            raise ValueError("equity must not be negative")

    @staticmethod
    def from_dict(data: dict) -> "AccountSpec":
        """Build a spec from JSON (admin API, CLI, state file); unknown keys are refused."""
        allowed = {"key_id", "secret", "equity", "multiplier", "shorting", "options_level",
                   "account_number", "rate_limit_per_min"}
        extra = set(data) - allowed
        if extra:
            raise ValueError(f"unknown account fields: {sorted(extra)}")
        kw = dict(data)
        if "equity" in kw:
            kw["equity"] = Decimal(str(kw["equity"]))
        for name in ("multiplier", "options_level"):
            if name in kw:
                kw[name] = int(kw[name])
        if "shorting" in kw:
            kw["shorting"] = _as_bool(kw["shorting"])
        if kw.get("rate_limit_per_min") is not None:
            kw["rate_limit_per_min"] = int(kw["rate_limit_per_min"])
        return AccountSpec(**kw)


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass
class SimAccount:
    """Mutable state of one account. Only the exchange mutates it, on the event loop."""

    spec: AccountSpec
    id: str
    account_number: str
    created_at: datetime
    cash: Decimal
    last_equity: Decimal
    balance_asof: date
    positions: dict[str, SimPosition] = field(default_factory=dict)
    orders: list[SimOrder] = field(default_factory=list)  # parents and simple orders, oldest first
    by_id: dict[str, SimOrder] = field(default_factory=dict)  # parents, simple orders and legs
    by_client_id: dict[str, SimOrder] = field(default_factory=dict)
    open_orders: dict[str, SimOrder] = field(default_factory=dict)  # top-level orders still working
    activities: list[dict] = field(default_factory=list)  # OPEXC/OPASN/OPEXP/OPTRD (sim/activities.py)

    @property
    def key_id(self) -> str:
        return self.spec.key_id

    def add_order(self, order: SimOrder) -> None:
        """Index a new top-level order (and its legs)."""
        self.orders.append(order)
        self.by_id[order.id] = order
        self.by_client_id[order.client_order_id] = order
        for leg in order.legs:
            self.by_id[leg.id] = leg
        if order.is_open:
            self.open_orders[order.id] = order

    def refresh_open(self, order: SimOrder) -> None:
        """Keep ``open_orders`` in step with an order whose status changed."""
        if order.is_open:
            self.open_orders[order.id] = order
        else:
            self.open_orders.pop(order.id, None)


class Accounts:
    """The registry of accounts, looked up by key id; secrets are compared in constant time."""

    def __init__(self, specs: Iterable[AccountSpec] | None = None, *, now: datetime, today: date) -> None:
        self._by_key: dict[str, SimAccount] = {}
        self._now = now
        self._today = today
        for spec in (list(specs) if specs is not None else [demo_spec()]):
            self.add(spec)

    def add(self, spec: AccountSpec, *, now: datetime | None = None, today: date | None = None) -> SimAccount:
        """Create an account; a key id that exists already is refused (ValueError)."""
        if spec.key_id in self._by_key:
            raise ValueError(f"account {spec.key_id!r} exists already")
        acct_id = str(uuid.uuid5(SIM_NAMESPACE, "account:" + spec.key_id))
        number = spec.account_number or "PA" + str(int(uuid.UUID(acct_id)) % 10**10).zfill(10)
        account = SimAccount(spec=spec, id=acct_id, account_number=number, created_at=now or self._now,
                             cash=spec.equity, last_equity=spec.equity, balance_asof=today or self._today)
        self._by_key[spec.key_id] = account
        return account

    def restore(self, account: SimAccount) -> None:
        """Put an account loaded from the state file in place (replacing one with the same key)."""
        self._by_key[account.key_id] = account

    def authenticate(self, key_id: str, secret: str) -> SimAccount | None:
        """The account for this key pair, or None when either part is wrong."""
        account = self._by_key.get(key_id or "")
        if account is None:
            return None
        if not hmac.compare_digest(account.spec.secret.encode(), (secret or "").encode()):
            return None
        return account

    def get(self, key_id: str) -> SimAccount | None:
        return self._by_key.get(key_id)

    def __iter__(self) -> Iterator[SimAccount]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)


def demo_spec() -> AccountSpec:
    """The default demo account: $100,000, Reg-T margin (2x), shorting on, options level 3."""
    return AccountSpec(key_id=DEMO_KEY_ID, secret=DEMO_SECRET)
