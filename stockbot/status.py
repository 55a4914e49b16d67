"""``stockbot status``: what an operator needs at a glance, read-only.

The state database is opened read-only so status never blocks (or is blocked by) a daemon.
"""

from __future__ import annotations

from stockbot.config import account_paths, accounts_root, memory_dir, memory_root, validate_account_id
from stockbot.flags import read_stop
from stockbot.store import Store, StoreError, iter_account_dbs


def known_accounts() -> list[str | None]:
    """The default account (if it has state) plus every account directory under the root."""
    accounts: list[str | None] = []
    if account_paths(None)["state_db"].exists():
        accounts.append(None)
    accounts.extend(acc for acc, _ in iter_account_dbs(accounts_root()))
    return accounts


def account_status(account: str | None, *, events: int = 10) -> str:
    """A text block: STOP flag, last decision and recent events of one account."""
    validate_account_id(account)
    name = account or "default"
    lines = [f"== account {name} ({memory_dir(account)})"]
    stop = read_stop(account)
    lines.append("STOP: " + (f"HALTED by {stop.get('who')} at {stop.get('when')}: {stop.get('why')}"
                             if stop else "not set (trading allowed)"))
    try:
        store = Store.for_account(account, readonly=True)
    except StoreError as exc:
        lines.append(f"state: {exc}")
        return "\n".join(lines)
    with store:
        decisions = store.decisions(limit=1)
        if decisions:
            d = decisions[0]
            lines.append(f"last decision: {d['ts']} {d['action']} ({d['reason']})")
            for v in store.votes(d["decision_id"]):
                lines.append(f"  vote {v['agent']:<12} {v['action']:<5} {v['error'] or ''}")
        open_orders = [o for o in store.orders() if o["status"] not in ("filled", "canceled", "expired",
                                                                          "rejected")]
        lines.append(f"orders not final: {len(open_orders)}")
        lines.append(f"recent events ({events}):")
        for ev in store.last_events(events):
            lines.append(f"  #{ev.seq} {ev.ts.isoformat(timespec='seconds')} {ev.kind} {_short(ev.payload)}")
    return "\n".join(lines)


def _short(payload: dict, limit: int = 120) -> str:
    text = ", ".join(f"{k}={v}" for k, v in payload.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_status(account: str | None, *, all_accounts: bool = False, events: int = 10) -> str:
    """Status of one account, or of every known account with ``all_accounts``."""
    if not all_accounts:
        return account_status(account, events=events)
    blocks = [account_status(acc, events=events) for acc in known_accounts()]
    return "\n\n".join(blocks) if blocks else f"no accounts with state under {memory_root()}"
