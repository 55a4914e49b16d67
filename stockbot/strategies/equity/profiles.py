"""Aggression profiles: a pure mapping (settings, profile) -> the parameters the strategy runs with.

``EQUITY_PROFILE`` picks one; the profile is applied on top of the account's settings:

=========================  ==============================  =======================================
parameter                  conservative                    max_aggro
=========================  ==============================  =======================================
sides                      long only                       long top K and short bottom K
leverage (x equity)        min(EQUITY_LEVERAGE, 1)         2 (never above the broker multiplier)
gross exposure cap         min(EQUITY_MAX_GROSS_EXPOSURE,  2
                           1)
names per side (K)         EQUITY_TOP_K                    max(EQUITY_TOP_K, 10)
position cap (x equity)    min(EQUITY_MAX_POSITION_PCT,    max(EQUITY_MAX_POSITION_PCT, 0.10)
                           RISK_MAX_RISK_PER_TRADE)
daily/weekly loss limit    RISK_* as set                   1.0 (disabled: never auto-stops)
max open positions         RISK_MAX_OPEN_POSITIONS         max(setting, 2K)
risk per trade             RISK_MAX_RISK_PER_TRADE         max(setting, position cap)
fire counter hour / day    RISK_MAX_ORDERS_PER_*           max(setting, 4 x slate) / (10 x slate)
=========================  ==============================  =======================================

Why the position cap follows the risk per trade: a stock position can lose its whole notional (a
long to zero; a short at least that much), so the strategy treats notional as the order's risk,
and sizing never proposes a position the gate's ``max_risk_per_trade`` would refuse.

max_aggro is meant for deliberately aggressive *paper* accounts (watched, refunded when blown);
pointing it at live keys is the operator's explicit choice. Every decision carries a strategy
version ``<account>-<profile>-<date>`` for cohort analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from stockbot.config import RiskSettings, Settings

PROFILES = ("conservative", "max_aggro")
AGGRO_LEVERAGE = Decimal(2)
AGGRO_MIN_TOP_K = 10
AGGRO_MIN_POSITION_PCT = 0.10


@dataclass(frozen=True, slots=True)
class ProfileParams:
    """What the equity strategy of one account runs with (after its profile)."""

    profile: str
    universe: str
    top_k: int  # names per side
    shorting: bool  # the profile wants shorts (the broker account must allow them too)
    leverage: Decimal  # target gross exposure as a multiple of equity, before the broker's cap
    max_gross_exposure: Decimal
    max_position_pct: float
    forward_days: int
    risk: RiskSettings

    @property
    def max_slate(self) -> int:
        """Most picks one slate may hold (both sides); bounded by the open-position limit."""
        return max(1, min(self.top_k * (2 if self.shorting else 1), self.risk.max_open_positions, 50))

    def effective_leverage(self, broker_multiplier: Decimal) -> Decimal:
        """Gross exposure target: profile leverage, gross cap and the broker's margin multiplier."""
        return max(Decimal(0), min(self.leverage, self.max_gross_exposure, Decimal(broker_multiplier)))


def effective_params(settings: Settings) -> ProfileParams:
    """The profile in ``settings.equity.profile`` applied to ``settings`` (pure; table-tested)."""
    e, r = settings.equity, settings.risk
    if e.profile == "conservative":
        position = min(e.max_position_pct, r.max_risk_per_trade)
        return ProfileParams("conservative", e.universe, e.top_k, False, min(e.leverage, Decimal(1)),
                            min(e.max_gross_exposure, Decimal(1)), position, e.forward_days, r)
    if e.profile == "max_aggro":
        top_k = max(e.top_k, AGGRO_MIN_TOP_K)
        position = max(e.max_position_pct, AGGRO_MIN_POSITION_PCT)
        slate = 2 * top_k
        risk = r.model_copy(update={
            "daily_loss_limit": 1.0, "weekly_loss_limit": 1.0,
            "max_open_positions": max(r.max_open_positions, slate),
            "max_risk_per_trade": max(r.max_risk_per_trade, position),
            "max_orders_per_hour": max(r.max_orders_per_hour, 4 * slate),
            "max_orders_per_day": max(r.max_orders_per_day, 10 * slate),
        })
        return ProfileParams("max_aggro", e.universe, top_k, True, AGGRO_LEVERAGE, AGGRO_LEVERAGE, position,
                            e.forward_days, risk)
    raise ValueError(f"unknown equity profile {e.profile!r} (known: {', '.join(PROFILES)})")


def strategy_version(account: str | None, profile: str, day: date) -> str:
    """The cohort label of a decision: ``<account>-<profile>-<YYYY-MM-DD>``."""
    return f"{account or 'default'}-{profile}-{day.isoformat()}"
