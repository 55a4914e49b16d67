"""Marking, fills on the book, and buying power of the local exchange.

Margin model (a deliberate simplification of Reg-T, documented here so tests and users know it):

- ``equity = cash + long_market_value + short_market_value`` (short values are negative).
- Stock: initial margin = |market value| / multiplier (multiplier 2 is Reg-T's 50 %; multiplier 1
  is a cash account, where buying power equals cash).
- Options are never marginable. Positions are grouped by underlying and expiration; a group needs
  ``its market value + its worst loss at expiration`` (the payoff of the group is piecewise linear
  in the underlying price, so its minimum is found at 0 and at the strikes). A long option needs
  its premium; a defined-risk spread (credit spread, iron condor) needs its max loss, i.e. width
  minus credit received; a cash-secured put needs strike x 100 minus the premium. A net short call
  has unbounded loss; it is charged the loss at 1.25 x max(strike, spot).
- ``excess = equity - stock initial margin - option requirements``; open orders hold the buying
  power they would consume (``reserved``). ``buying_power = (excess - reserved) x multiplier``,
  ``options_buying_power = excess - reserved``.
- An order that would increase the requirement by more than the available excess is refused with
  403/40310000 "insufficient buying power". Orders that reduce risk are never refused for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Iterable

from stockbot.options.occ import is_occ_symbol, parse_occ
from stockbot.sim.exchange_model import OPTION_MULTIPLIER, SimPosition, cents

ZERO = Decimal(0)
_AVG_Q = Decimal("0.000001")
_NAKED_CALL_FACTOR = Decimal("1.25")


class Pricer:
    """Quotes for one pass over the book (one request or one tick): each symbol is priced once."""

    def __init__(self, market) -> None:
        self.market = market
        self._quotes: dict[str, tuple[Decimal, Decimal]] = {}
        self._spots: dict[str, Decimal | None] = {}

    def touch(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(bid, ask) now. KeyError/ValueError for a symbol the market does not know."""
        q = self._quotes.get(symbol)
        if q is None:
            quote = self.market.option_quote(symbol) if is_occ_symbol(symbol) else self.market.quote(symbol)
            q = (Decimal(quote.bid), Decimal(quote.ask))
            self._quotes[symbol] = q
        return q

    def mark(self, symbol: str, fallback: Decimal) -> Decimal:
        """Mid price now, or ``fallback`` (the entry price) when the symbol cannot be quoted."""
        try:
            bid, ask = self.touch(symbol)
        except (KeyError, ValueError):
            return fallback
        return (bid + ask) / 2

    def spot(self, underlying: str) -> Decimal | None:
        if underlying not in self._spots:
            try:
                self._spots[underlying] = Decimal(self.market.price(underlying))
            except (KeyError, ValueError):
                self._spots[underlying] = None
        return self._spots[underlying]


def apply_fill(positions: dict[str, SimPosition], cash: Decimal, symbol: str, asset_class: str,
               side: str, qty: Decimal, price: Decimal) -> Decimal:
    """Book a fill into ``positions`` (replacing, never mutating, position objects) and return the
    new cash. Average price: weighted when adding, unchanged when reducing, the fill price when
    the position flips sides."""
    mult = OPTION_MULTIPLIER if asset_class == "us_option" else Decimal(1)
    signed = qty if side == "buy" else -qty
    cash = cash - signed * price * mult
    pos = positions.get(symbol)
    if pos is None:
        positions[symbol] = SimPosition(symbol, signed, price, asset_class)
        return cash
    new_qty = pos.qty + signed
    if new_qty == 0:
        del positions[symbol]
        return cash
    if (pos.qty > 0) == (signed > 0):
        avg = ((pos.qty * pos.avg_entry_price + signed * price) / new_qty).quantize(_AVG_Q, ROUND_HALF_EVEN)
    elif (pos.qty > 0) != (new_qty > 0):
        avg = price
    else:
        avg = pos.avg_entry_price
    positions[symbol] = SimPosition(symbol, new_qty, avg, asset_class)
    return cash


@dataclass(frozen=True)
class Valuation:
    cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    equity: Decimal
    stock_initial_margin: Decimal
    option_requirement: Decimal
    maintenance_margin: Decimal

    @property
    def excess(self) -> Decimal:
        return self.equity - self.stock_initial_margin - self.option_requirement

    @property
    def initial_margin(self) -> Decimal:
        return self.stock_initial_margin + self.option_requirement


def valuate(cash: Decimal, positions: Iterable[SimPosition], multiplier: int, pricer: Pricer) -> Valuation:
    """Mark every position and compute equity and margin requirements."""
    long_mv = short_mv = stock_im = maint = ZERO
    groups: dict[tuple[str, date], list[tuple[SimPosition, Decimal]]] = {}
    m = Decimal(multiplier)
    for pos in positions:
        price = pricer.mark(pos.symbol, pos.avg_entry_price)
        mv = pos.qty * price * pos.multiplier
        if mv >= 0:
            long_mv += mv
        else:
            short_mv += mv
        if pos.asset_class == "us_option":
            contract = parse_occ(pos.symbol)
            groups.setdefault((contract.underlying, contract.expiration), []).append((pos, mv))
        else:
            stock_im += abs(mv) / m
            maint += abs(mv) * (Decimal("0.25") if mv >= 0 else Decimal("0.30"))
    option_req = ZERO
    for (underlying, _exp), members in groups.items():
        group_mv = sum((mv for _, mv in members), ZERO)
        loss = worst_expiry_loss([p for p, _ in members], pricer.spot(underlying))
        option_req += max(ZERO, group_mv + loss)
    return Valuation(cash=cash, long_market_value=cents(long_mv), short_market_value=cents(short_mv),
                     equity=cents(cash + long_mv + short_mv), stock_initial_margin=cents(stock_im),
                     option_requirement=cents(option_req), maintenance_margin=cents(maint + option_req))


def worst_expiry_loss(options: list[SimPosition], spot: Decimal | None) -> Decimal:
    """The largest loss (>= 0) the options of one underlying/expiration can reach at expiration."""
    legs = []
    for pos in options:
        c = parse_occ(pos.symbol)
        legs.append((c.right.value, c.strike, pos.qty * OPTION_MULTIPLIER))
    strikes = sorted({k for _, k, _ in legs})
    points = [ZERO, *strikes]
    call_slope = sum((q for right, _, q in legs if right == "call"), ZERO)
    if call_slope < 0:
        points.append(max(strikes[-1], spot or ZERO) * _NAKED_CALL_FACTOR)
    worst = min(_payoff(legs, s) for s in points)
    return max(ZERO, -worst)


def _payoff(legs: list[tuple[str, Decimal, Decimal]], s: Decimal) -> Decimal:
    total = ZERO
    for right, strike, q in legs:
        intrinsic = max(ZERO, s - strike) if right == "call" else max(ZERO, strike - s)
        total += q * intrinsic
    return total
