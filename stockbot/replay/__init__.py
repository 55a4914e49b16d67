"""Market replay (``stockbot replay``): the real daemon over market history in virtual time.

``history`` is the market source: real daily S&P 500 sessions (SPY modelled as the index / 10)
with an implied-volatility level per session (VIX where it exists, a GARCH(1,1) fit before), and
a seeded intraday path through each session's open, high, low and close.
"""
