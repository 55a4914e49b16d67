"""`python -m stockbot.sim`: the local exchange (same as `stockbot sim`)."""

from stockbot.sim.app import main

raise SystemExit(main())
