"""Typed store rows for tests that feed a function rows without a database behind them.

Every field not given takes a plain default (an empty order or trade); the values are the parsed
types the store hands out (``Decimal``, aware ``datetime``), so a test states only what it is about.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from stockbot.store_rows import DecisionRow, OrderRow, TradeLeg, TradeRow

EPOCH = datetime(2026, 1, 2, tzinfo=timezone.utc)


def order_row(**fields: Any) -> OrderRow:
    """An OrderRow with defaults for every field not given."""
    base: dict[str, Any] = dict(client_order_id="c-0", created_ts=EPOCH, updated_ts=EPOCH, decision_id=None,
                                purpose="", status="new", broker_id=None, symbol=None, order_class="simple",
                                qty=Decimal(1), limit_price=None, filled_qty=Decimal(0), filled_avg_price=None,
                                intent={}, raw=None)
    return OrderRow(**{**base, **fields})


def trade_row(*, legs: tuple[tuple[str, Any], ...] = (), **fields: Any) -> TradeRow:
    """A TradeRow with defaults; ``legs`` as (symbol, signed qty) pairs."""
    base: dict[str, Any] = dict(structure_id="s-0", strategy="condor", opened_ts=EPOCH, closed_ts=None,
                                status="open", entry_client_order_id=None, exit_client_order_id=None,
                                qty=Decimal(1), entry_price=None, exit_price=None, pnl=None, meta={})
    return TradeRow(**{**base, **fields}, legs=tuple(TradeLeg(s, Decimal(str(q))) for s, q in legs))


def decision_row(**fields: Any) -> DecisionRow:
    """A DecisionRow with defaults for every field not given."""
    base: dict[str, Any] = dict(decision_id="d-0", ts=EPOCH, strategy="condor", action="HOLD", params={},
                                reason="", context=None, lessons=None, prompt=None)
    return DecisionRow(**{**base, **fields})
