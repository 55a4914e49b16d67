"""Halts are never silent: every transition into REDUCING or HALTED is recorded and alerted once.

The trading state is recomputed from facts before every order (``risk.states``), which is right
for the gate but meant nobody heard when an account stopped opening trades. ``observe`` runs
wherever the engine reads the account (decisions, management passes): it records a
``trading_state`` event when the state or its reasons change, alerts ``halt`` (loss limits, out
of capital, the STOP flag) or ``floor_breach`` (equity at or below ``RISK_EQUITY_FLOOR``), and on
a floor breach writes the STOP flag itself (``who: stockbot``): HALTED needs a person, so the
account must not resume by itself when equity ticks back above the floor. Alerts are rate-limited
per kind by the alerter; the events are on the dashboard.
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog

from stockbot.config import Settings
from stockbot.domain import AccountSnapshot
from stockbot.flags import read_stop, write_stop
from stockbot.risk.states import StateDecision, TradingState
from stockbot.store import Store

log = structlog.get_logger(__name__)
STATE_EVENT = "trading_state"
LIVE_OVERRIDE_EVENT = "live_override_used"


class _Alerts(Protocol):
    async def alert(self, kind: str, message: str) -> None: ...


class Watched(Protocol):
    """What halts reads of one account's collaborators (``trading.deps.EngineDeps``, which imports
    this module: a Protocol here keeps the two free of a circle)."""

    @property
    def account(self) -> str | None: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def notifier(self) -> _Alerts: ...


def last_state(store: Store) -> dict[str, Any] | None:
    """The payload of the last recorded ``trading_state`` event, or None if there is none."""
    events = store.events(kind=STATE_EVENT)[-1:]
    return events[0].payload if events else None


async def observe_state(deps: Watched, account: AccountSnapshot, decision: StateDecision) -> None:
    """Record and alert ``decision`` if it differs from the last recorded state (never raises)."""
    try:
        await _observe(deps, account, decision)
    except Exception as exc:  # noqa: BLE001 - watching must never break a decision or a close
        log.warning("halts.observe_failed", error=f"{type(exc).__name__}: {exc}")


async def _observe(deps: Watched, account: AccountSnapshot, decision: StateDecision) -> None:
    reasons = sorted(decision.reasons)
    previous = last_state(deps.store)
    if previous is None and decision.state is TradingState.ACTIVE:
        return  # nothing to report on a healthy first look
    if previous is not None and previous.get("state") == decision.state.value and previous.get("reasons") == reasons:
        return
    floor = any(r.startswith("equity_floor") for r in reasons)
    stop_written = False
    if floor and read_stop(deps.account) is None:
        write_stop(deps.account, f"equity ${account.equity} at or below RISK_EQUITY_FLOOR "
                                 f"${deps.settings.risk.equity_floor}: halted by the daemon", who="stockbot")
        stop_written = True
        reasons = sorted({*reasons, "stop_flag: written by the daemon (equity floor)"})
    deps.store.append_event(STATE_EVENT, {"state": decision.state.value, "reasons": reasons,
                                          "previous": (previous or {}).get("state", "ACTIVE"),
                                          "equity": account.equity, "stop_written": stop_written})
    log.warning("halts.state_changed", state=decision.state.value, reasons=reasons)
    if decision.state is TradingState.ACTIVE or (previous or {}).get("state") == decision.state.value:
        return  # recovered, or only the reasons changed within the same state: recorded, not re-alerted
    if all(r.startswith("out_of_capital") for r in reasons):
        return  # the engine alerted ``out_of_capital`` itself, with the buying power figures
    what = "halted (only closing orders; an operator must resume)" if decision.state is TradingState.HALTED \
        else "reducing (only closing orders until the cause clears)"
    message = f"trading {what}: {'; '.join(reasons)}; equity ${account.equity}"
    await deps.notifier.alert("floor_breach" if floor else "halt", message)


async def note_live_override(deps: Watched, reason: str, client_order_id: str) -> None:
    """A live account opened an order only because VALIDATION_LIVE_OVERRIDE is set: every use is
    recorded and alerted (rate-limited per kind)."""
    deps.store.append_event(LIVE_OVERRIDE_EVENT, {"client_order_id": client_order_id, "reason": reason[:300]})
    log.error("halts.live_override_used", client_order_id=client_order_id, reason=reason)
    await deps.notifier.alert("live_override", f"live order {client_order_id} sent under VALIDATION_LIVE_OVERRIDE: "
                                               f"{reason}")
