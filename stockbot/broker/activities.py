"""Option account activities (``OPEXC`` / ``OPASN`` / ``OPEXP`` / ``OPTRD``) read from Alpaca.

alpaca-py 0.44's TradingClient has no account-activities method, so the route is called through
the client's own ``get`` (its auth, base URL and error handling), inside the broker's request
budget and read retries like every other read. Pages are followed with ``page_token`` (the id of
the last activity of a page, oldest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

OPTION_ACTIVITY_TYPES = ("OPEXC", "OPASN", "OPEXP", "OPTRD")
PAGE_SIZE = 100
MAX_PAGES = 20  # 2,000 option events since the oldest open trade is far beyond any real account


@dataclass(frozen=True, slots=True)
class OptionActivity:
    """One option event. ``qty`` is signed: the change of the option position (OPEXC/OPASN/OPEXP)
    or of the stock position (OPTRD)."""

    id: str
    type: str
    symbol: str
    qty: Decimal
    price: Decimal | None
    net_amount: Decimal
    group_id: str
    at: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OptionActivity:
        def dec(v: Any) -> Decimal | None:
            return None if v in (None, "") else Decimal(str(v))

        return cls(id=str(raw["id"]), type=str(raw["activity_type"]), symbol=str(raw.get("symbol") or ""),
                   qty=dec(raw.get("qty")) or Decimal(0), price=dec(raw.get("price")),
                   net_amount=dec(raw.get("net_amount")) or Decimal(0), group_id=str(raw.get("group_id") or ""),
                   at=str(raw.get("created_at") or raw.get("date") or ""))


def supported(broker: Any) -> bool:
    """Whether ``broker`` is an AlpacaBroker (the only broker with a trading client to ask)."""
    return hasattr(broker, "_trading") and hasattr(broker, "_read")


async def option_activities(broker: Any, since_id: str | None = None) -> list[OptionActivity]:
    """Every option activity after the one with id ``since_id`` (all when None), oldest first.
    Activity ids sort by time, and Alpaca's ``page_token`` is exactly such a cursor."""
    out: list[OptionActivity] = []
    token: str | None = since_id
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"activity_types": ",".join(OPTION_ACTIVITY_TYPES), "direction": "asc",
                                  "page_size": PAGE_SIZE}
        if token:
            params["page_token"] = token
        page = await broker._read(broker._trading.get, "/account/activities", params)  # noqa: SLF001
        rows = [OptionActivity.from_json(r) for r in page or [] if r.get("activity_type") in OPTION_ACTIVITY_TYPES]
        out.extend(rows)
        if len(page or []) < PAGE_SIZE:
            break
        token = str(page[-1]["id"])
    return out


async def exercise(broker: Any, symbol: str) -> None:
    """Exercise every available long contract of ``symbol`` (alpaca-py's exercise_options_position)."""
    await broker._once(broker._trading.exercise_options_position, symbol)  # noqa: SLF001
