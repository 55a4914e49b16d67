"""The engine's small parts with table tests: the ladder's cancel races (a scripted broker stands
in for the exchange, because a fill *during* a cancel cannot be timed on a real one), fire
counters and baselines from the store, fill prices, closing debits and the IV history."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from rowkit import order_row

from stockbot.broker.errors import RejectedError
from stockbot.trading.executor import OrderExecutor
from stockbot.domain import BrokerOrder, OptionContract, OptionQuote, OptionRight, OrderIntent, Side
from stockbot.trading.ladder import LadderTiming, OrderLadder
from stockbot.strategies.condor.manage import closing_debits
from stockbot.trading.riskctx import order_counts, start_of_week_equity
from stockbot.strategies.condor.snapshot import atm_iv_history, record_atm_iv
from stockbot.strategies.condor.trades import net_price, pnl_of
from stockbot.options.condor import condor_from_symbols
from stockbot.risk.gate import Approved, Denied

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)  # Wednesday 10:30 New York
FAST = LadderTiming(poll_interval_s=0.001, fill_timeout_s=0.01, cancel_timeout_s=0.05)


def view(intent: OrderIntent, status: str, filled: str = "0") -> BrokerOrder:
    return BrokerOrder(id=f"id-{intent.client_order_id}", client_order_id=intent.client_order_id, status=status,
                       qty=intent.qty, filled_qty=D(filled), created_at=NOW, limit_price=intent.limit_price,
                       filled_avg_price=intent.limit_price if status == "filled" else None)


class ScriptedBroker:
    """Every order rests ("new"); what a cancel does is scripted: ``on_cancel`` is the status the
    order shows afterwards, and ``refuse_cancel`` answers the cancel with a 422."""

    def __init__(self, on_cancel: str, refuse_cancel: bool = False):
        self.on_cancel, self.refuse_cancel = on_cancel, refuse_cancel
        self.orders: dict[str, BrokerOrder] = {}
        self.intents: dict[str, OrderIntent] = {}
        self.cancels: list[str] = []

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        order = view(intent, "new")
        self.orders[order.id], self.intents[order.id] = order, intent
        return order

    async def order_by_client_id(self, cid: str) -> BrokerOrder | None:
        return next((o for o in self.orders.values() if o.client_order_id == cid), None)

    async def order_by_id(self, oid: str) -> BrokerOrder | None:
        return self.orders.get(oid)

    async def cancel(self, oid: str) -> None:
        self.cancels.append(oid)
        intent = self.intents[oid]
        self.orders[oid] = view(intent, self.on_cancel, str(intent.qty) if self.on_cancel == "filled" else "0")
        if self.refuse_cancel:
            raise RejectedError('HTTP 422 code 42210000: order is already in "filled" state', status=422)


def make_intent(rung: int, price: D | None) -> OrderIntent:
    return OrderIntent(client_order_id=f"acct-d1-condor_open-{rung}", qty=D(1), symbol="SPY", side=Side.BUY,
                       order_type="limit", limit_price=price, purpose="condor_open", decision_id="d1")


async def approve(intent: OrderIntent) -> Approved:
    return Approved()


async def walk(broker, store, check=approve):
    ladder = OrderLadder(broker, OrderExecutor(broker, store, lookup_delay_s=0.001), store, FAST)
    return await ladder.walk([D("1.00"), D("1.05"), D("1.10")], make_intent, check)


@pytest.fixture
def store(tmp_path):
    from stockbot.store import Store

    s = Store(tmp_path / "s.db")
    yield s
    s.close()


async def test_fill_during_cancel_is_a_fill_and_no_further_rung_is_sent(store):
    broker = ScriptedBroker(on_cancel="filled", refuse_cancel=True)
    result = await walk(broker, store)
    assert result.status == "filled" and len(broker.orders) == 1
    assert store.get_order("acct-d1-condor_open-0").status == "filled"


async def test_unconfirmed_cancel_stops_the_ladder(store):
    broker = ScriptedBroker(on_cancel="pending_cancel")
    result = await walk(broker, store)
    assert result.status == "unresolved" and len(broker.orders) == 1
    assert store.get_order("acct-d1-condor_open-0").status == "pending_cancel"


async def test_every_rung_cancelled_and_confirmed_before_the_next(store):
    broker = ScriptedBroker(on_cancel="canceled")
    result = await walk(broker, store)
    assert result.status == "exhausted" and [a.status for a in result.attempts] == ["canceled"] * 3
    assert len(broker.cancels) == 3 and [o.status for o in store.orders()] == ["canceled"] * 3


async def test_a_denied_rung_is_never_sent_or_recorded(store):
    async def deny(intent):
        return Denied("STOP flag present", "stop_flag")

    broker = ScriptedBroker(on_cancel="canceled")
    result = await walk(broker, store, deny)
    assert result.status == "denied" and broker.orders == {} and store.orders() == []
    assert store.events(kind="order_intent") == []


def test_fire_counters_count_the_last_hour_and_the_new_york_day():
    rows = [order_row(created_ts=NOW - timedelta(minutes=m)) for m in (5, 59, 61, 300, 700)]
    # 700 minutes ago is 22:50 New York the day before
    assert order_counts(rows, NOW) == (2, 4)


def test_start_of_week_equity_is_the_first_point_since_monday():
    curve = [(NOW - timedelta(days=3), D("90"), D(0)), (NOW - timedelta(days=2), D("100"), D(0)),
             (NOW - timedelta(days=1), D("105"), D(0))]  # Sunday, Monday, Tuesday
    assert start_of_week_equity(curve, NOW, D("1")) == D("100")
    assert start_of_week_equity([], NOW, D("99")) == D("99")


def leg(symbol: str, side: str, price: str) -> BrokerOrder:
    return BrokerOrder(id=symbol, client_order_id=symbol, status="filled", qty=D(2), filled_qty=D(2),
                       created_at=NOW, symbol=symbol, side=side, filled_avg_price=D(price))


def test_net_price_from_the_legs_credit_negative():
    legs = (leg("SC", "sell", "2.00"), leg("LC", "buy", "0.50"), leg("SP", "sell", "1.80"), leg("LP", "buy", "0.40"))
    parent = BrokerOrder(id="p", client_order_id="p", status="filled", qty=D(2), filled_qty=D(2), created_at=NOW,
                         filled_avg_price=D("-9.99"), legs=legs)
    assert net_price(parent) == D("-2.90")
    assert net_price(BrokerOrder(id="p", client_order_id="p", status="filled", qty=D(1), filled_qty=D(1),
                                 created_at=NOW, filled_avg_price=D("-1.25"))) == D("-1.25")
    assert pnl_of(D("2.90"), D("1.40"), D(2)) == D("300.00")


SYMS = ("SPY261231C00681000", "SPY261231C00691000", "SPY261231P00629000", "SPY261231P00619000")


def quote(symbol: str, bid: str, ask: str) -> OptionQuote:
    right = OptionRight.CALL if "C0" in symbol else OptionRight.PUT
    contract = OptionContract(symbol, "SPY", date(2026, 12, 31), right, D(symbol[-8:]) / 1000)
    return OptionQuote(contract, D(bid), D(ask), NOW)


def test_closing_debits_need_all_four_sane_quotes():
    condor = condor_from_symbols(SYMS, D("2.00"))
    quotes = {s: quote(s, b, a) for s, b, a in zip(SYMS, ("1.0", "0.3", "1.2", "0.4"), ("1.2", "0.4", "1.4", "0.5"))}
    mid, natural, _ = closing_debits(condor, quotes)
    assert (mid, natural) == (D("1.6"), D("1.9"))  # 1.1 + 1.3 - 0.35 - 0.45 ; 1.2 + 1.4 - 0.3 - 0.4
    crossed = dict(quotes, **{SYMS[0]: quote(SYMS[0], "1.3", "1.2")})
    assert closing_debits(condor, crossed) is None
    assert closing_debits(condor, {s: quotes[s] for s in SYMS[:3]}) is None


def test_atm_iv_is_recorded_once_per_day(store):
    assert record_atm_iv(store, date(2026, 11, 17), 0.20)
    assert record_atm_iv(store, date(2026, 11, 18), 0.22)
    assert not record_atm_iv(store, date(2026, 11, 18), 0.30)
    assert not record_atm_iv(store, date(2026, 11, 19), None)
    assert atm_iv_history(store) == [0.20, 0.22]
