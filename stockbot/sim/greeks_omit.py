"""Which option snapshots leave out ``greeks`` and ``impliedVolatility``, as Alpaca's do.

Alpaca's option snapshots omit both fields for some contracts (deep in the money, no bid, no
trades). The local exchange reproduces that with a documented, deterministic rule, so a client
that needs a delta or an IV for every strike fails in tests the way it would in production:

- **the rule (always on):** a contract whose |delta| is above ``DEEP_ITM_DELTA`` (0.97), or whose
  bid is zero, or whose quote implies no volatility, is served without greeks and IV;
- **the injectable part:** ``drop_fraction`` (0..1) drops both for that fraction of the remaining
  contracts too, picked by a stable hash of ``(seed, symbol)`` — the same contracts on every
  request and in every process with the same seed; 1.0 drops them for every contract.

Set through ``POST /_sim/settings {"greeks_drop_fraction": 0.3, "greeks_drop_seed": 7}`` (GET
reads them). Only the wire answer changes: the book's own pricing (fills, marks) keeps its greeks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEEP_ITM_DELTA = 0.97


@dataclass
class GreeksOmission:
    """The omission rule of one sim (mutable: the admin API changes it at run time)."""

    drop_fraction: float = 0.0
    seed: int = 0

    def set(self, drop_fraction: float | None = None, seed: int | None = None) -> None:
        if drop_fraction is not None:
            f = float(drop_fraction)
            if not 0.0 <= f <= 1.0:
                raise ValueError("greeks_drop_fraction must be within [0, 1]")
            self.drop_fraction = f
        if seed is not None:
            self.seed = int(seed)

    def _picked(self, symbol: str) -> bool:
        if self.drop_fraction <= 0.0:
            return False
        if self.drop_fraction >= 1.0:
            return True
        h = hashlib.blake2b(f"{self.seed}:{symbol}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0 ** 64 < self.drop_fraction

    def omits(self, symbol: str, delta: float, bid: float, iv: float | None) -> bool:
        """True if the snapshot of ``symbol`` is served without greeks and IV."""
        return abs(delta) > DEEP_ITM_DELTA or bid <= 0.0 or iv is None or self._picked(symbol)

    def to_json(self) -> dict:
        return {"greeks_drop_fraction": self.drop_fraction, "greeks_drop_seed": self.seed}
