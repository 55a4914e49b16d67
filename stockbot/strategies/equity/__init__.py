"""Equity and index accounts: universes, the gradient-boosting screener, the long/short strategy,
advisor picks and their grading.

Modules (importing this package imports none of them; scikit-learn loads only when a model does):

- ``universes``: committed Nasdaq-100 / S&P 500 constituent lists (+ QQQ / SPY) and scoping checks.
- ``history``: daily bars of a universe, fetched in chunks, cached per market day.
- ``features``: the versioned feature schema; ``dataset``: labels and walk-forward validation.
- ``screener``: train / save / load / rank with ``HistGradientBoostingClassifier``.
- ``profiles``: conservative / max_aggro -> effective parameters; strategy version labels.
- ``strategy``: slate, sizing, rebalance plan (pure); ``book``: the trade book of stock positions.
- ``execution``: runs a plan through the risk gate and the idempotent order path.
- ``context`` / ``engine``: the consensus context and the decision cycle (``EquityEngine``).
- ``picks`` (daily advisor, bilingual e-mail), ``grading`` (scores and learnings).
- ``services`` (wiring, scheduled jobs), ``cli`` (train / screen / picks / grade), ``bench``.
"""
