"""How the local exchange decides that a marketable limit order fills: a delay and a chance.

A limit order (simple or mleg) fills only when it is marketable against the quotes of that moment
(the quotes move with the sim clock), and then only

- once it has rested ``delay_s`` sim seconds since it was placed, and
- with probability ``chance`` per check (a check = every request of the account and every tick),
  drawn from a generator seeded by (sim seed, order id, check number): the same run fills the
  same orders at the same checks.

Defaults: ``chance = 1.0``, ``delay_s = 0``: Alpaca's paper engine fills a marketable order at
once at the quote, so these are exactly as kind as Alpaca paper and no kinder; a lower chance or a
delay models a live queue (harsher than paper). Market orders always fill at once at the touch
(they do on Alpaca). Prices: the touch (buy at the ask, sell at the bid); mid prices for mleg
orders only when asked for (``mleg_fill = "mid"``). mleg orders stay all-or-none.

Set them with ``POST /_sim/settings {"fill_chance": 0..1, "fill_delay_s": N}`` or the command line
(``stockbot sim --fill-chance 0.5 --fill-delay-s 3``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class FillSettings:
    chance: float = 1.0
    delay_s: float = 0.0
    _checks: dict[str, int] = field(default_factory=dict, repr=False)

    def set(self, chance=None, delay_s=None) -> None:
        """Change either value; ValueError when out of range."""
        if chance is not None:
            chance = float(chance)
            if not 0.0 <= chance <= 1.0:
                raise ValueError("fill_chance must be in [0, 1]")
            self.chance = chance
        if delay_s is not None:
            delay_s = float(delay_s)
            if delay_s < 0:
                raise ValueError("fill_delay_s must be >= 0")
            self.delay_s = delay_s

    def may_fill(self, order, now: datetime, seed: int) -> bool:
        """Whether a marketable ``order`` may fill at this check (market orders always may)."""
        if order.type not in ("limit", "stop_limit"):
            return True
        # (a frozen clock stamps orders a microsecond apart, after "now": never a negative rest)
        if self.delay_s > 0 and (now - order.created_at).total_seconds() < self.delay_s:
            return False
        if self.chance >= 1.0:
            return True
        n = self._checks.get(order.id, 0) + 1
        self._checks[order.id] = n
        return random.Random(f"{seed}:{order.id}:{n}").random() < self.chance

    def forget(self, order_id: str) -> None:
        self._checks.pop(order_id, None)

    def to_json(self) -> dict:
        return {"fill_chance": self.chance, "fill_delay_s": self.delay_s}


def add_cli_args(parser) -> None:
    """``--fill-chance`` and ``--fill-delay-s`` on ``stockbot sim``."""
    parser.add_argument("--fill-chance", type=float, default=None,
                        help="chance per check that a marketable limit order fills (default 1.0, as Alpaca paper)")
    parser.add_argument("--fill-delay-s", type=float, default=None,
                        help="sim seconds a limit order rests before it can fill (default 0)")


def apply_cli(args, server) -> None:
    """Put the command line's fill settings on a built SimServer."""
    server.state.exchange.fill.set(getattr(args, "fill_chance", None), getattr(args, "fill_delay_s", None))
