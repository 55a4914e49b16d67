"""The local exchange's default symbol universe and rough per-symbol parameters.

``DEFAULT_SYMBOLS`` = the four index ETFs + the Nasdaq-100 + the largest other S&P 500 names.
Any other syntactically valid ticker is generated lazily by the market, so a full S&P 500 list
works without being listed here. Prices are rough late-2025 levels (the anchor of the simulated
history), volatilities rough annualised levels; both only make the demo look plausible.
"""

from __future__ import annotations

import re

TICKER_RE = re.compile(r"^[A-Z]{1,5}(\.[A-Z])?$")

INDEX_ETFS: tuple[str, ...] = ("SPY", "QQQ", "IWM", "DIA")

NASDAQ100: tuple[str, ...] = (
    "AAPL", "ABNB", "ADBE", "ADI", "ADP", "ADSK", "AEP", "AMAT", "AMD", "AMGN", "AMZN", "APP",
    "ARM", "ASML", "AVGO", "AXON", "AZN", "BIIB", "BKNG", "BKR", "CCEP", "CDNS", "CDW", "CEG",
    "CHTR", "CMCSA", "COST", "CPRT", "CRWD", "CSCO", "CSGP", "CSX", "CTAS", "CTSH", "DASH",
    "DDOG", "DXCM", "EA", "EXC", "FANG", "FAST", "FTNT", "GEHC", "GFS", "GILD", "GOOG", "GOOGL",
    "HON", "IDXX", "INTC", "INTU", "ISRG", "KDP", "KHC", "KLAC", "LIN", "LRCX", "LULU", "MAR",
    "MCHP", "MDB", "MDLZ", "MELI", "META", "MNST", "MRVL", "MSFT", "MSTR", "MU", "NFLX", "NVDA",
    "NXPI", "ODFL", "ON", "ORLY", "PANW", "PAYX", "PCAR", "PDD", "PEP", "PLTR", "PYPL", "QCOM",
    "REGN", "ROP", "ROST", "SBUX", "SHOP", "SNPS", "TEAM", "TMUS", "TRI", "TSLA", "TTD", "TTWO",
    "TXN", "VRSK", "VRTX", "WBD", "WDAY", "XEL", "ZS",
)

LARGE_SP500: tuple[str, ...] = (
    "BRK.B", "JPM", "V", "LLY", "UNH", "XOM", "MA", "JNJ", "PG", "HD", "WMT", "ABBV", "BAC", "KO",
    "CVX", "MRK", "CRM", "ORCL", "ACN", "MCD", "ABT", "TMO", "DHR", "DIS", "WFC", "IBM", "GE",
    "CAT", "VZ", "PM", "NOW", "GS", "MS", "UBER", "T", "RTX", "SPGI", "NEE", "PFE", "UNP", "LOW",
    "AXP", "BLK",
)

DEFAULT_SYMBOLS: tuple[str, ...] = INDEX_ETFS + NASDAQ100 + LARGE_SP500

# Rough price levels at the history anchor (end of 2025).
ANCHOR_PRICES: dict[str, float] = {
    "SPY": 680, "QQQ": 615, "IWM": 245, "DIA": 480,
    "AAPL": 270, "ABNB": 125, "ADBE": 340, "ADI": 250, "ADP": 290, "ADSK": 300, "AEP": 115,
    "AMAT": 230, "AMD": 220, "AMGN": 330, "AMZN": 230, "APP": 600, "ARM": 140, "ASML": 1000,
    "AVGO": 350, "AXON": 560, "AZN": 85, "BIIB": 170, "BKNG": 5200, "BKR": 46, "CCEP": 88,
    "CDNS": 310, "CDW": 140, "CEG": 350, "CHTR": 210, "CMCSA": 28, "COST": 900, "CPRT": 40,
    "CRWD": 500, "CSCO": 75, "CSGP": 68, "CSX": 36, "CTAS": 190, "CTSH": 80, "DASH": 230,
    "DDOG": 150, "DXCM": 68, "EA": 200, "EXC": 44, "FANG": 150, "FAST": 41, "FTNT": 82,
    "GEHC": 80, "GFS": 36, "GILD": 120, "GOOG": 310, "GOOGL": 310, "HON": 195, "IDXX": 700,
    "INTC": 38, "INTU": 650, "ISRG": 560, "KDP": 28, "KHC": 25, "KLAC": 1200, "LIN": 420,
    "LRCX": 160, "LULU": 200, "MAR": 300, "MCHP": 62, "MDB": 400, "MDLZ": 55, "MELI": 2000,
    "META": 660, "MNST": 75, "MRVL": 88, "MSFT": 490, "MSTR": 170, "MU": 280, "NFLX": 95,
    "NVDA": 185, "NXPI": 215, "ODFL": 150, "ON": 52, "ORLY": 92, "PANW": 190, "PAYX": 112,
    "PCAR": 108, "PDD": 115, "PEP": 145, "PLTR": 185, "PYPL": 60, "QCOM": 170, "REGN": 760,
    "ROP": 445, "ROST": 180, "SBUX": 85, "SHOP": 160, "SNPS": 470, "TEAM": 160, "TMUS": 200,
    "TRI": 135, "TSLA": 450, "TTD": 40, "TTWO": 245, "TXN": 175, "VRSK": 220, "VRTX": 450,
    "WBD": 28, "WDAY": 215, "XEL": 74, "ZS": 230,
    "BRK.B": 500, "JPM": 320, "V": 350, "LLY": 1050, "UNH": 330, "XOM": 118, "MA": 570,
    "JNJ": 205, "PG": 145, "HD": 350, "WMT": 112, "ABBV": 225, "BAC": 55, "KO": 70, "CVX": 150,
    "MRK": 100, "CRM": 260, "ORCL": 195, "ACN": 270, "MCD": 305, "ABT": 125, "TMO": 580,
    "DHR": 230, "DIS": 112, "WFC": 92, "IBM": 300, "GE": 305, "CAT": 580, "VZ": 41, "PM": 155,
    "NOW": 160, "GS": 880, "MS": 175, "UBER": 82, "T": 25, "RTX": 180, "SPGI": 520, "NEE": 82,
    "PFE": 25, "UNP": 230, "LOW": 245, "AXP": 370, "BLK": 1080,
}

# Rough annualised volatility; everything else gets 0.25-0.45 from a hash.
VOLATILITY: dict[str, float] = {
    "SPY": 0.16, "QQQ": 0.21, "IWM": 0.22, "DIA": 0.15, "TSLA": 0.55, "NVDA": 0.45,
    "MSTR": 0.80, "PLTR": 0.60, "APP": 0.65, "AMD": 0.48, "ARM": 0.55, "SHOP": 0.50,
    "COIN": 0.70, "KO": 0.16, "PG": 0.16, "JNJ": 0.17, "PEP": 0.18, "WMT": 0.19, "BRK.B": 0.17,
    "MCD": 0.18, "XEL": 0.19, "AEP": 0.19, "VZ": 0.19, "T": 0.21,
}

# Correlation of a symbol's daily return with the market factor (SPY is the factor itself).
MARKET_CORRELATION: dict[str, float] = {"SPY": 1.0, "QQQ": 0.92, "IWM": 0.85, "DIA": 0.95}

# Quoted spread in basis points of price (everything else: 2-6 bp); at least one cent.
SPREAD_BPS: dict[str, float] = {"SPY": 0.15, "QQQ": 0.2, "IWM": 0.4, "DIA": 0.4}

# Symbols whose options list $1 strikes within +-25% of spot ($5 beyond).
DOLLAR_STRIKE_UNDERLYINGS: frozenset[str] = frozenset({"SPY", "QQQ", "IWM", "DIA"})

# Symbols that also list daily (Mon-Fri) expirations for the coming week.
DAILY_EXPIRY_UNDERLYINGS: frozenset[str] = frozenset({"SPY", "QQQ", "IWM"})


def is_valid_ticker(symbol: str) -> bool:
    """True for syntactically valid US stock tickers (``AAPL``, ``BRK.B``)."""
    return isinstance(symbol, str) and TICKER_RE.fullmatch(symbol) is not None
