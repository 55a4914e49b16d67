"""Trade bookkeeping of stock positions, and the history loader (chunks, cache, scope)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import numpy as np
import pytest

from equity_helpers import BarsBroker, histories, to_bars
from stockbot.trading.reconcile import structures_from_trades
from stockbot.domain import OrderIntent, Side
from stockbot.strategies.equity.book import CLOSE_PURPOSE, OPEN_PURPOSE, book_close, book_open, open_trades, recover_fills
from stockbot.strategies.equity.history import HistoryLoader, history_from_bars
from stockbot.strategies.equity.universes import UniverseError, load_universe
from stockbot.store import Store
from stockbot.store_rows import TradeLeg

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def test_long_adds_average_and_partial_close_books_pnl(store):
    book_open(store, strategy="equity", symbol="AAPL", side="long", qty=Decimal(10), price=Decimal(100),
              decision_id="d1", version="a-conservative-2026-11-18", client_order_id="c1", now=NOW)
    book_open(store, strategy="equity", symbol="AAPL", side="long", qty=Decimal(10), price=Decimal(110),
              decision_id="d2", version="a-conservative-2026-11-19", client_order_id="c2", now=NOW)
    t = open_trades(store, "equity")["AAPL"]
    assert t.qty == 20 and t.entry_price == 105
    # the reconciler's view of the structure equals the position this strategy owns
    assert structures_from_trades([t])[0].legs == {"AAPL": Decimal(20)}
    assert book_close(store, t, qty=Decimal(5), price=Decimal(115), client_order_id="x1", reason="trim",
                      now=NOW) == Decimal(50)
    t = open_trades(store, "equity")["AAPL"]
    assert t.qty == 15 and t.legs == (TradeLeg("AAPL", Decimal(15)),)
    assert book_close(store, t, qty=Decimal(15), price=Decimal(95), client_order_id="x2", reason="left",
                      now=NOW) == Decimal(-150)
    closed = store.trades(status="closed")[0]
    assert closed.pnl == Decimal(-100) and closed.meta["close_reason"] == "left"
    assert open_trades(store, "equity") == {}


def test_short_pnl_is_inverted_and_unknown_prices_stay_unknown(store):
    book_open(store, strategy="index", symbol="TSLA", side="short", qty=Decimal(4), price=Decimal(200),
              decision_id="d1", version="v", client_order_id="c1", now=NOW)
    t = open_trades(store, "index")["TSLA"]
    assert t.legs == (TradeLeg("TSLA", Decimal(-4)),)
    assert book_close(store, t, qty=Decimal(2), price=Decimal(150), client_order_id=None, reason="trim",
                      now=NOW) == Decimal(100)
    t = open_trades(store, "index")["TSLA"]
    assert book_close(store, t, qty=Decimal(2), price=None, client_order_id=None, reason="left", now=NOW) is None
    assert store.trades(status="closed")[0].pnl is None  # never a made-up P&L
    assert open_trades(store, "equity") == {}  # strategies do not see each other's trades


def _filled_order(store, cid, symbol, side, qty, price, purpose, status="filled"):
    intent = OrderIntent(client_order_id=cid, qty=Decimal(qty), symbol=symbol, side=Side(side), purpose=purpose,
                         decision_id="d-crash")
    store.record_order_intent(intent)
    store.update_order(cid, status=status, broker_id=f"b-{cid}", filled_qty=Decimal(qty),
                       filled_avg_price=Decimal(price))


def test_fills_missed_by_a_crash_are_booked_once(store):
    # The order was filled at the broker, but the process died before the trade was booked.
    _filled_order(store, "c-open", "MSFT", "sell", 10, "500", OPEN_PURPOSE)
    _filled_order(store, "c-other", "KO", "buy", 5, "70", "condor_open")  # not this strategy's
    store.record_order_intent(OrderIntent(client_order_id="c-working", qty=Decimal(3), symbol="PG", side=Side.BUY,
                                          purpose=OPEN_PURPOSE))  # still submitting: the reconciler's
    assert recover_fills(store, "equity", version="v", now=NOW) == ["c-open"]
    t = open_trades(store, "equity")["MSFT"]
    assert t.meta["side"] == "short" and t.legs == (TradeLeg("MSFT", Decimal(-10)),)
    assert recover_fills(store, "equity", version="v", now=NOW) == []  # idempotent
    # A close we stopped waiting for after 4 of 10 had filled (and booked) kept filling afterwards.
    _filled_order(store, "c-close", "MSFT", "buy", 4, "450", CLOSE_PURPOSE, status="partially_filled")
    book_close(store, open_trades(store, "equity")["MSFT"], qty=Decimal(4), price=Decimal(450),
               client_order_id="c-close", reason="left", now=NOW)
    assert recover_fills(store, "equity", version="v", now=NOW) == []
    store.update_order("c-close", status="filled", filled_qty=Decimal(10), filled_avg_price=Decimal(450))
    assert recover_fills(store, "equity", version="v", now=NOW) == ["c-close"]  # the other 6, once
    assert recover_fills(store, "equity", version="v", now=NOW) == []
    closed = store.trades(status="closed")[0]
    assert closed.pnl == Decimal(500) and open_trades(store, "equity") == {}
    assert store.events(kind="equity_fills_recovered")


def test_the_book_never_nets_opposite_sides(store):
    book_open(store, strategy="equity", symbol="A", side="long", qty=Decimal(1), price=Decimal(1), decision_id="d",
              version="v", client_order_id="c1", now=NOW)
    with pytest.raises(ValueError, match="cannot add a short fill"):
        book_open(store, strategy="equity", symbol="A", side="short", qty=Decimal(1), price=Decimal(1),
                  decision_id="d", version="v", client_order_id="c2", now=NOW)


def test_history_drops_the_forming_session():
    h = histories(["AAA"], 10)["AAA"]
    bars = to_bars(h)
    kept = history_from_bars("AAA", bars, before=date(2026, 11, 17))
    assert kept.last_date == date(2026, 11, 16) and len(kept) == 9


async def test_loader_chunks_scopes_and_caches(tmp_path):
    uni = load_universe("nasdaq100")
    data = histories([*uni.constituents, "QQQ"], 70)
    broker = BarsBroker({**data, "JPM": data["AAPL"]})
    loader = HistoryLoader(broker, uni, tmp_path, chunk=40)
    got = await loader.load(date(2026, 11, 18))
    assert set(got) == uni.symbols
    assert [len(r) for r in broker.requests] == [40, 40, 22]
    assert all(set(r) <= uni.symbols for r in broker.requests)
    assert list(tmp_path.glob("bars-nasdaq100-2026-11-18.npz"))
    # a second loader (another process) reads the day's cache: no broker call
    again = await HistoryLoader(broker, uni, tmp_path).load(date(2026, 11, 18), ["AAPL", "QQQ"])
    assert len(broker.requests) == 3
    np.testing.assert_array_equal(again["AAPL"].close, got["AAPL"].close)
    with pytest.raises(UniverseError, match="JPM"):
        await loader.load(date(2026, 11, 18), ["JPM"])
    assert len(broker.requests) == 3  # refused before anything was asked
    # the next market day replaces the cache file
    await HistoryLoader(broker, uni.subset(["AAPL"]), tmp_path).load(date(2026, 11, 19), ["AAPL"])
    assert [p.name for p in tmp_path.glob("*.npz")] == ["bars-nasdaq100-2026-11-19.npz"]


async def test_loader_refuses_an_answer_outside_the_universe(tmp_path):
    uni = load_universe("nasdaq100").subset(["AAPL"])

    class Rogue(BarsBroker):
        async def daily_bars(self, symbols, start, end=None):
            return {"JPM": to_bars(self.data["JPM"])}

    with pytest.raises(UniverseError, match="daily bars answer"):
        await HistoryLoader(Rogue(histories(["JPM"], 70)), uni).load(date(2026, 11, 18))

