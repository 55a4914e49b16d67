"""Index universes: the committed constituent lists of the Nasdaq-100 and the S&P 500, plus ETFs.

Each list is ``data/<index>.csv`` (``symbol,name,sector``) with a sidecar ``data/<index>.json``
that carries the as-of date, the index's ETF and a note on how the list was compiled. An account
sees exactly one universe (``EQUITY_UNIVERSE``): its constituents plus its ETF. Every place that
screens, votes or orders checks symbols against it (``Universe.require``) so a symbol outside the
index can never be screened, proposed to the agents or sent to the broker, whatever produced it.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

from stockbot.errors import StockbotError

DATA_DIR = Path(__file__).resolve().parent / "data"
UniverseName = Literal["nasdaq100", "sp500"]
UNIVERSES: tuple[str, ...] = ("nasdaq100", "sp500")
ETFS: dict[str, str] = {"nasdaq100": "QQQ", "sp500": "SPY"}
# Alpaca's form: 1-5 capitals, optionally a dot and a class letter (BRK.B).
SYMBOL_RE = re.compile(r"^[A-Z]{1,5}(\.[A-Z])?$")


class UniverseError(StockbotError, ValueError):
    """A symbol outside the account's universe, or a broken constituent file.

    Caller: skip (the symbol); operator fix (a broken constituent file).
    """


@dataclass(frozen=True, slots=True)
class Constituent:
    symbol: str
    name: str
    sector: str


@dataclass(frozen=True)
class Universe:
    """One index: its constituents, its ETF and the date the list is valid for."""

    name: str
    etf: str
    as_of: date
    members: tuple[Constituent, ...]
    note: str = ""
    _by_symbol: dict[str, Constituent] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_symbol.update({c.symbol: c for c in self.members})

    @property
    def constituents(self) -> tuple[str, ...]:
        """Constituent symbols in file order (the ETF is not one of them)."""
        return tuple(c.symbol for c in self.members)

    @property
    def symbols(self) -> frozenset[str]:
        """Everything this account may touch: the constituents and the index ETF."""
        return frozenset(self._by_symbol) | {self.etf}

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol or symbol == self.etf

    def member(self, symbol: str) -> Constituent | None:
        return self._by_symbol.get(symbol)

    def require(self, symbols: Iterable[str], what: str) -> None:
        """Raise UniverseError if any symbol is outside this universe (``what``: for the message)."""
        outside = sorted({s for s in symbols if s not in self})
        if outside:
            shown = ", ".join(outside[:10]) + (" ..." if len(outside) > 10 else "")
            raise UniverseError(f"{what}: {len(outside)} symbol(s) outside the {self.name} universe: {shown}")

    def subset(self, symbols: Iterable[str]) -> "Universe":
        """The same index restricted to ``symbols`` (tests and benchmarks use small universes).

        Every symbol must be a constituent: a subset can never widen what an account may touch.
        """
        wanted = list(dict.fromkeys(symbols))
        self.require(wanted, "subset")
        members = tuple(self._by_symbol[s] for s in wanted if s != self.etf)
        return Universe(self.name, self.etf, self.as_of, members, self.note)


def read_constituents(path: Path) -> tuple[Constituent, ...]:
    rows: list[Constituent] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["symbol", "name", "sector"]:
            raise UniverseError(f"{path}: header must be symbol,name,sector (got {reader.fieldnames})")
        for lineno, row in enumerate(reader, 2):
            sym = (row.get("symbol") or "").strip()
            if not SYMBOL_RE.fullmatch(sym):
                raise UniverseError(f"{path}:{lineno}: invalid symbol {sym!r}")
            if sym in seen:
                raise UniverseError(f"{path}:{lineno}: duplicate symbol {sym}")
            seen.add(sym)
            rows.append(Constituent(sym, (row.get("name") or "").strip(), (row.get("sector") or "").strip()))
    if not rows:
        raise UniverseError(f"{path}: no constituents")
    return tuple(rows)


@lru_cache(maxsize=None)
def load_universe(name: str) -> Universe:
    """The committed universe ``name`` (``nasdaq100`` or ``sp500``); cached, immutable."""
    if name not in UNIVERSES:
        raise UniverseError(f"unknown universe {name!r} (known: {', '.join(UNIVERSES)})")
    meta = json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    members = read_constituents(DATA_DIR / f"{name}.csv")
    etf = meta.get("etf")
    if etf != ETFS[name]:
        raise UniverseError(f"{name}.json: etf {etf!r}, expected {ETFS[name]}")
    if int(meta.get("count", -1)) != len(members):
        raise UniverseError(f"{name}.json: count {meta.get('count')} but the CSV lists {len(members)}")
    return Universe(name=name, etf=etf, as_of=date.fromisoformat(meta["as_of"]), members=members,
                    note=str(meta.get("note", "")))
