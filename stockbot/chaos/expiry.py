"""Chaos section "expiry": random condors meet assignment, exercise, expiry and broker liquidation
on the local exchange, and the daemon's real reconciler (AlpacaBroker, OrderExecutor, Store) cleans
up after each. Every round: a fresh sim and store, a random condor held by the store and the
broker, one random event (early assignment of a short leg by the fault route; exercise of the
in-the-money long call through the daemon's adapter; expiration at the close with random
moneyness; expiry-day liquidation of a small account whose short put is in the money), then two
reconciliation runs (three for a liquidation: what the broker left expires at the close). Bad counts (all must be 0):

- **naked stock**: shares at the broker after reconciliation (stockbot holds no stock here);
- **naked short**: short options with no long of the same underlying, right and expiration;
- **unbooked assignment**: OPEXC/OPASN/OPEXP activities on our legs with no ``option_activity`` event;
- **broker liquidations not booked as such** (legs the exchange closed itself with no
  ``broker_liquidation`` event);
- **trades left open** (every round's condor must end closed, with its reason), and **orphan
  reports** (the events were
  assignment/expiry/liquidation, never orphans).
"""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from pydantic import SecretStr

FRIDAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)  # a Wednesday, 10:30 New York
KEY, SECRET = "SIMKEY_CHAOS_EXP", "SIMSECRET_CHAOS_EXP"
EVENTS = ("early_assignment", "exercise", "expiry", "liquidation")


async def _round(work: Path, rng: random.Random, n: int) -> dict[str, Any]:
    from stockbot.broker import activities as broker_activities
    from stockbot.broker.alpaca import AlpacaBroker
    from stockbot.trading.executor import OrderExecutor
    from stockbot.config import AlpacaSettings
    from stockbot.strategies.condor.recovery import CondorBooker
    from stockbot.trading.ladder import LadderTiming
    from stockbot.trading.reconciler import Reconciler
    from stockbot.options.occ import parse_occ
    from stockbot.sim.accounts import AccountSpec
    from stockbot.sim.app import SimServer
    from stockbot.sim.expiry import assign, model_for
    from stockbot.store import Store

    event = rng.choice(EVENTS)
    equity = "3000" if event == "liquidation" else "100000"
    server = SimServer(seed=rng.randrange(1000), always_open=True, start_at=T0, freeze=True,
                       accounts=[AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal(equity))])
    await server.start()
    store = Store(work / f"round{n}.db")
    try:
        state = server.state
        model_for(state.market).set(probability=0)
        account = state.accounts.get(KEY)
        spot = state.market.price("SPY")
        expiration = FRIDAY if event in ("expiry", "liquidation") else date(2026, 12, 18)
        chain = [k for k in state.market.option_contracts("SPY") if k.expiration == expiration]

        def near(right: str, strike) -> str:
            return min((k for k in chain if k.right.value == right), key=lambda k: abs(k.strike - strike)).symbol

        call_off, put_off = rng.randint(-15, 30), rng.randint(-15, 30)
        if event == "liquidation":
            put_off = -rng.randint(3, 20)  # the short put in the money at 15:15: the small account cannot cover it
        if event == "exercise":
            call_off = -rng.randint(12, 30)  # the long call in the money too, so exercising it delivers stock
        # a narrow put spread nets out at assignment (coverable); a wide one leaves 100 shares to buy
        put_width = rng.choice((10, 40)) if event == "liquidation" else rng.choice((5, 10))
        sc = near("call", spot + Decimal(call_off))
        sp = near("put", spot - Decimal(put_off))
        legs = {sc: -1, near("call", parse_occ(sc).strike + rng.choice((5, 10))): 1,
                sp: -1, near("put", parse_occ(sp).strike - put_width): 1}
        store.record_trade(structure_id=f"condor-{n}", strategy="condor", status="open", qty=Decimal(1),
                           entry_price=Decimal("1.50"), legs=[{"symbol": s, "qty": str(q)} for s, q in legs.items()])
        for sym, qty in legs.items():
            state.exchange.plant_position(account, sym, Decimal(qty), Decimal("1.00"))
        if event == "early_assignment":
            assign(account, rng.choice([sc, sp]), state.clock.now())
        elif event == "exercise":
            pass  # exercised below, through the daemon's adapter
        elif event == "expiry":
            state.clock.jump((datetime(2026, 11, 20, 21, 0, 1, tzinfo=timezone.utc) - state.clock.now()).total_seconds())
        else:  # 15:16 New York, or one jump over 15:15 and the close (the exchange acted at 15:15 anyway)
            to = rng.choice((datetime(2026, 11, 20, 20, 16, tzinfo=timezone.utc),
                             datetime(2026, 11, 20, 21, 0, 1, tzinfo=timezone.utc)))
            state.clock.jump((to - state.clock.now()).total_seconds())
        state.exchange.process_all()

        broker = AlpacaBroker(AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET),
                                             base_url=server.url), backoff_s=0.01)
        executor = OrderExecutor(broker, store, lookup_attempts=3, lookup_delay_s=0.02)
        timing = LadderTiming(poll_interval_s=0.02, fill_timeout_s=0.3, cancel_timeout_s=2.0)
        captured: list = []
        rec = Reconciler("chaos", broker, store, executor, booker=CondorBooker(store, broker), capture=captured.append,
                         timing=timing)
        if event == "exercise":
            await broker_activities.exercise(broker, next(sym for sym, q in legs.items() if q > 0 and "C" in sym[-9:]))
        await rec.run()
        await rec.run()
        if event == "liquidation" and state.clock.now() < datetime(2026, 11, 20, 21, tzinfo=timezone.utc):
            # what the broker left now expires
            state.clock.jump((datetime(2026, 11, 20, 21, 0, 1, tzinfo=timezone.utc) - state.clock.now()).total_seconds())
            await rec.run()
        positions = await broker.positions()
        acts = await broker_activities.option_activities(broker)
        booked = {e.payload["activity_id"] for e in store.events(kind="option_activity")}
        known = {r.client_order_id for r in store.orders()}
        by_exchange = {o.symbol for o in account.orders if o.client_order_id not in known}  # its liquidations
        liquidation_booked = {e.payload["symbol"] for e in store.events(kind="broker_liquidation")}
        return {"event": event,
                "naked_stock": sum(abs(p.qty) for p in positions if not p.symbol.startswith("SPY2")),
                "naked_short": _naked_shorts(positions),
                "unbooked": sum(1 for a in acts if a.type != "OPTRD" and a.symbol in legs and a.id not in booked),
                "left_open": len(store.trades(status="open")),
                "orphans": len(store.events(kind="orphan_found")),
                "liquidated": len(store.events(kind="broker_liquidation")),
                "by_exchange": len(by_exchange),
                "liquidation_unbooked": len(by_exchange - liquidation_booked),
                "activities": len(acts), "lessons": len(captured)}
    finally:
        store.close()
        await server.stop()


def _naked_shorts(positions) -> int:
    from stockbot.options.occ import is_occ_symbol, parse_occ

    longs: dict = {}
    for p in positions:
        if is_occ_symbol(p.symbol) and p.qty > 0:
            c = parse_occ(p.symbol)
            longs[(c.underlying, c.right, c.expiration)] = longs.get((c.underlying, c.right, c.expiration), 0) + p.qty
    bad = 0
    for p in positions:
        if is_occ_symbol(p.symbol) and p.qty < 0:
            c = parse_occ(p.symbol)
            if longs.get((c.underlying, c.right, c.expiration), 0) < -p.qty:
                bad += 1
    return bad


def run_expiry_section(work: Path, rounds: int, *, seed: int = 7, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``rounds`` random rounds; the result dict the chaos script tabulates."""
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for n in range(rounds):
        row = asyncio.run(_round(work, rng, n))
        say(f"expiry round {n}: {row['event']}: {row['activities']} activities, {row['lessons']} lessons")
        rows.append(row)
    bad = {"naked stock (shares)": int(sum(r["naked_stock"] for r in rows)),
           "naked short options": sum(r["naked_short"] for r in rows),
           "unbooked assignments/exercises/expiries": sum(r["unbooked"] for r in rows),
           "trades left open": sum(r["left_open"] for r in rows),
           "reported as orphans": sum(r["orphans"] for r in rows),
           "broker liquidations not booked as such": sum(r["liquidation_unbooked"] for r in rows)}
    events = {e: sum(1 for r in rows if r["event"] == e) for e in EVENTS}
    events["legs liquidated by the exchange"] = sum(r["by_exchange"] for r in rows)
    return {"rounds": rounds, "events": events, "activities": sum(r["activities"] for r in rows),
            "lessons": sum(r["lessons"] for r in rows), "rows": rows, "bad": bad, "ok": not any(bad.values())}
