"""A move of the underlying toward a short strike triggers management at once.

Management runs every ``SCHEDULE_MANAGE_INTERVAL_S`` (300 s); a fast move can cross a short
strike well inside that. Each streamed quote of the underlying is checked against the short
strikes of the open condors: within ``CONDOR_MANAGE_TRIGGER_PCT`` % of spot the daemon runs a
management pass now (which prices the close from fresh option quotes and applies the usual
take-profit / stop / time rules). Debounced: at most one triggered pass per
``CONDOR_MANAGE_TRIGGER_DEBOUNCE_S``, so a price that sits near a strike does not turn every
quote into a pass. The open trades are re-read from the store at most every ``REFRESH_S``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from stockbot.config import CondorSettings
from stockbot.domain import Quote
from stockbot.store import Store
from stockbot.strategies.condor.trades import condor_of

REFRESH_S = 5.0  # how stale the cached short strikes may be (a new condor is seen within this)


def near_short_strike(spot: Decimal, shorts: list[Decimal], pct: float) -> Decimal | None:
    """The nearest short strike within ``pct`` % of ``spot``, or None (pure, tested by table)."""
    if spot <= 0 or pct <= 0 or not shorts:
        return None
    nearest = min(shorts, key=lambda k: abs(spot - k))
    return nearest if abs(spot - nearest) / spot * 100 <= Decimal(str(pct)) else None


class MoveTrigger:
    """``on_quote(quote) -> bool``: True when this quote should start a management pass."""

    def __init__(self, store: Store, settings: CondorSettings, monotonic: Callable[[], float]):
        self.store = store
        self.settings = settings
        self._mono = monotonic
        self._shorts: list[Decimal] = []
        self._read_at: float | None = None
        self._fired_at: float | None = None
        self.last_strike: Decimal | None = None

    def _short_strikes(self) -> list[Decimal]:
        now = self._mono()
        if self._read_at is None or now - self._read_at >= REFRESH_S:
            shorts: list[Decimal] = []
            for trade in self.store.trades(status="open"):
                condor = condor_of(trade)
                if condor is not None and condor.underlying == self.settings.underlying:
                    shorts += [condor.short_put_strike, condor.short_call_strike]
            self._shorts, self._read_at = shorts, now
        return self._shorts

    def on_quote(self, quote: Quote) -> bool:
        c = self.settings
        if quote.symbol != c.underlying or c.manage_trigger_pct <= 0 or quote.bid <= 0 or quote.ask <= 0:
            return False
        now = self._mono()
        if self._fired_at is not None and now - self._fired_at < c.manage_trigger_debounce_s:
            return False
        strike = near_short_strike(quote.mid, self._short_strikes(), c.manage_trigger_pct)
        if strike is None:
            return False
        self._fired_at, self.last_strike = now, strike
        return True

    def forget(self) -> None:
        """Re-read the open trades on the next quote (a condor was just opened or closed)."""
        self._read_at = None
