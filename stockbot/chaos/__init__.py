"""Reliability suite (``scripts/chaos.py``, ``make chaos``): kill -9 loops, fault sessions, fuzzing
and broken inputs, each ending in invariants checked against the sim and the state store.

Modules: ``child`` (the daemon as a killable process that reports its durable writes), ``rig``
(sim and daemon processes, account workspace), ``invariants`` (the checks), ``killloop``,
``faultsession``, ``fuzz`` (the agents' answer parser), ``inputs`` (env files, account ids, lesson
files), ``storage`` (corrupted and locked state databases) and ``daemonbench`` (start-up time and
memory for ``scripts/bench.py``).
"""
