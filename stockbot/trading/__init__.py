"""The trading core every strategy shares: the ports (``port``), the idempotent order executor,
the order ladder, the risk context, reconciliation (pure plan + reconciler), halts, and the one
decide preamble with lesson retrieval (``cycle``)."""
