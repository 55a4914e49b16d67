"""OCC option symbols: ``ROOT + YYMMDD + C|P + strike x 1000 in 8 digits``.

Example: ``SPY251219C00600000`` is the SPY 600 call expiring 2025-12-19. Pure and exact: strikes
are ``Decimal`` and survive a round trip (600, 600.5, 0.5, 12.345 ...). The root may be 1-6
characters (upper-case letters and digits, e.g. ``SPY``, ``SPXW``, ``BRKB``, adjusted roots like
``SPY1``); the first character must be a letter.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from stockbot.domain import OptionContract, OptionRight

_OCC_RE = re.compile(r"^([A-Z][A-Z0-9]{0,5})(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")
_ROOT_RE = re.compile(r"^[A-Z][A-Z0-9]{0,5}$")
_MAX_MILLI = 99_999_999  # 8 digits of thousandths: strikes up to 99999.999
_RIGHT_CHAR = {OptionRight.CALL: "C", OptionRight.PUT: "P"}
_CHAR_RIGHT = {"C": OptionRight.CALL, "P": OptionRight.PUT}


def _milli(strike: Decimal) -> int:
    """Strike in thousandths of a dollar; refuses strikes OCC cannot express exactly."""
    try:
        d = strike if isinstance(strike, Decimal) else Decimal(str(strike))
        milli = d * 1000
        if not d.is_finite() or milli != milli.to_integral_value():
            raise ValueError(f"strike {strike!r} has more than 3 decimals")
    except InvalidOperation as exc:
        raise ValueError(f"invalid strike {strike!r}") from exc
    value = int(milli)
    if value <= 0 or value > _MAX_MILLI:
        raise ValueError(f"strike {strike!r} out of the OCC range (0, 99999.999]")
    return value


def occ_symbol(root: str, expiration: date, right: OptionRight, strike: Decimal) -> str:
    """Build the OCC symbol, e.g. ``occ_symbol("SPY", date(2025,12,19), CALL, Decimal(600))``
    -> ``"SPY251219C00600000"``. Raises ValueError on a bad root, a year outside 2000-2099 or a
    strike that is not a positive multiple of 0.001 below 100000."""
    if not isinstance(root, str) or not _ROOT_RE.fullmatch(root):
        raise ValueError(f"invalid OCC root {root!r}")
    if not 2000 <= expiration.year <= 2099:
        raise ValueError(f"expiration year {expiration.year} outside 2000-2099")
    right = OptionRight(right)
    return f"{root}{expiration:%y%m%d}{_RIGHT_CHAR[right]}{_milli(strike):08d}"


def parse_occ(symbol: str) -> OptionContract:
    """Parse an OCC symbol into an ``OptionContract`` (underlying = root). ValueError if malformed.

    The strike is normalised so that ``Decimal(600)`` and ``Decimal("600.000")`` compare and
    print the same (``600``, ``600.5``, ``0.5``).
    """
    if not isinstance(symbol, str):
        raise ValueError(f"OCC symbol must be a string, not {type(symbol).__name__}")
    m = _OCC_RE.fullmatch(symbol)
    if not m:
        raise ValueError(f"malformed OCC symbol {symbol!r}")
    root, yy, mm, dd, cp, digits = m.groups()
    try:
        expiration = date(2000 + int(yy), int(mm), int(dd))
    except ValueError as exc:
        raise ValueError(f"malformed OCC symbol {symbol!r}: bad date") from exc
    milli = int(digits)
    if milli == 0:
        raise ValueError(f"malformed OCC symbol {symbol!r}: zero strike")
    strike = _normalise(Decimal(milli) / 1000)
    return OptionContract(symbol=symbol, underlying=root, expiration=expiration,
                          right=_CHAR_RIGHT[cp], strike=strike)


def _normalise(d: Decimal) -> Decimal:
    """600.000 -> 600, 600.500 -> 600.5 (never exponent form like 6E+2)."""
    n = d.normalize()
    return n.quantize(Decimal(1)) if n == n.to_integral_value() else n


def is_occ_symbol(symbol: str) -> bool:
    """True if ``symbol`` parses as an OCC option symbol (cheap check for stock vs option)."""
    try:
        parse_occ(symbol)
    except ValueError:
        return False
    return True
