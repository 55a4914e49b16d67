"""Read-only collection and the pure figures behind the dashboard."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from stockbot.config import RiskSettings, account_paths
from stockbot.dashboard import metrics
from stockbot.dashboard.data import collect_account, collect_all, readonly_store
from stockbot.risk.states import TradingState
from stockbot.store import Event, Store, StoreError

UTC = timezone.utc


def ev(seq: int, kind: str, payload: dict | None = None, ts: datetime | None = None) -> Event:
    return Event(seq, ts or datetime(2026, 3, 2, 15, seq % 60, tzinfo=UTC), kind, payload or {})


# --------------------------------------------------------------------------- pure figures


def test_drawdown_is_measured_from_the_running_peak():
    t = [datetime(2026, 1, d, 21, tzinfo=UTC) for d in range(1, 6)]
    pts = list(zip(t, map(Decimal, ("100", "120", "90", "130", "117"))))
    dd = [d for _, d in metrics.drawdown_series(pts)]
    assert dd == [Decimal(0), Decimal(0), Decimal("90") / Decimal("120") - 1, Decimal(0), Decimal("117") / Decimal("130") - 1]
    assert metrics.equity_figures(pts, t[-1]).max_drawdown == Decimal("-0.25")


def test_pnl_today_uses_the_new_york_day():
    # 2026-03-03 04:30Z is still 2026-03-02 in New York (EST, UTC-5): the baseline is the 03-01 close.
    pts = [(datetime(2026, 3, 1, 21, 15, tzinfo=UTC), Decimal("1000")),
           (datetime(2026, 3, 2, 6, 0, tzinfo=UTC), Decimal("1010")),    # 01:00 NY on 03-02
           (datetime(2026, 3, 2, 21, 15, tzinfo=UTC), Decimal("1025"))]
    f = metrics.equity_figures(pts, datetime(2026, 3, 3, 4, 30, tzinfo=UTC))
    assert f.pnl_today == Decimal("25") and f.start_of_day == Decimal("1000") and f.latest == Decimal("1025")
    # The next New York day with nothing recorded yet: today's P&L is unknown, not zero.
    assert metrics.equity_figures(pts, datetime(2026, 3, 3, 15, 0, tzinfo=UTC)).pnl_today is None
    # First day of an account: the day's first point is the baseline.
    first = [(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), Decimal("500")), (datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
                                                                        Decimal("490"))]
    assert metrics.equity_figures(first, datetime(2026, 3, 2, 17, 0, tzinfo=UTC)).pnl_today == Decimal("-10")
    assert metrics.equity_figures([], datetime(2026, 3, 2, tzinfo=UTC)).latest is None


def test_downsample_keeps_extremes_and_ends():
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    pts = [(t0 + timedelta(minutes=5 * i), Decimal(1000 + (i % 97))) for i in range(20_000)]
    pts[12_345] = (pts[12_345][0], Decimal("1"))  # one deep dip must survive
    out = metrics.downsample(pts, 1500)
    assert len(out) <= 1502 and out[0] == pts[0] and out[-1] == pts[-1]
    assert pts[12_345] in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)
    assert metrics.downsample(pts[:10], 1500) == pts[:10]


def test_capital_state_follows_the_engine_rule():
    out = ev(5, metrics.OUT_OF_CAPITAL, {"needed": "780", "buying_power": "400"})
    assert metrics.capital_state([out], [])["needed"] == "780"
    assert metrics.capital_state([out], [ev(6, metrics.CAPITAL_RESTORED)]) is None
    assert metrics.capital_state([out], [ev(4, metrics.CAPITAL_RESTORED)]) is not None
    assert metrics.capital_state([], []) is None


def test_event_names_match_the_writers():
    from stockbot.strategies.condor.engine import CAPITAL_RESTORED, OUT_OF_CAPITAL
    from stockbot.daemon.jobs import JOB_NAMES
    from stockbot.strategies.equity.services import JOBS as EQUITY_JOBS

    assert (metrics.OUT_OF_CAPITAL, metrics.CAPITAL_RESTORED) == (OUT_OF_CAPITAL, CAPITAL_RESTORED)
    assert set(metrics.JOB_EVENTS) == (set(JOB_NAMES) | set(EQUITY_JOBS)) - {"health"}  # health runs leave no event


def test_stream_state_and_job_runs():
    assert metrics.stream_state([]).status == "unknown"
    s = metrics.stream_state([ev(1, "stream_connected"), ev(2, "stream_stale"), ev(3, "stream_restarted")])
    assert (s.status, s.kind) == ("stale", "stream_stale")
    assert metrics.stream_state([ev(2, "stream_stale"), ev(3, "stream_recovered")]).status == "fresh"
    by_kind = {"decision_cycle": [ev(1, "decision_cycle")], "manage_cycle": [ev(2, "manage_cycle")]}
    crashes = [ev(3, "job_crash", {"job": "manage", "error": "boom"})]
    runs = {j.job: j for j in metrics.job_runs(by_kind, crashes)}
    assert runs["manage"].crashed_last and runs["manage"].crash_error == "boom"
    assert runs["decision"].last_run is not None and not runs["decision"].crashed_last
    assert runs["eod"].last_run is None and runs["eod"].last_crash is None


def test_trading_state_from_recorded_facts():
    now = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    pts = [(datetime(2026, 2, 27, 21, 15, tzinfo=UTC), Decimal("10000")), (now, Decimal("9600"))]  # -4% today
    f = metrics.equity_figures(pts, now)
    assert metrics.trading_state(RiskSettings(), stop=False, figures=f, out_of_capital=False) == (
        TradingState.REDUCING, ("daily_loss",))
    state, reasons = metrics.trading_state(RiskSettings(), stop=True, figures=f, out_of_capital=True)
    assert state is TradingState.HALTED and reasons == ("stop_flag", "daily_loss", "out_of_capital")
    empty = metrics.equity_figures([], now)
    assert metrics.trading_state(RiskSettings(), stop=False, figures=empty, out_of_capital=False)[0] is TradingState.ACTIVE


# --------------------------------------------------------------------------- collection from real stores


def test_collect_all_finds_every_account(sample):
    dash = collect_all()
    assert [a.account for a in dash.accounts] == [None, "nasdaq", "sp500"]
    assert all(a.error is None for a in dash.accounts)


def test_sp500_tab_data(sample):
    a, secrets = collect_account("sp500")
    assert secrets == ()  # no env file: defaults, and no keys
    assert a.settings.strategy == "condor" and a.settings.paper
    # Open condors: one structure each, four legs grouped under it.
    assert len(a.positions) == 2
    p = a.positions[0]
    assert len(p.legs) == 4 and p.meta["underlying"] == "SPY"
    assert sorted(Decimal(q) < 0 for _, q in p.legs) == [False, False, True, True]
    # Decisions with every agent's vote and the consensus tally.
    assert len(a.decisions) == 6
    entered = [d for d in a.decisions if d.outcome == "entered" and d.enter_votes == 4][0]
    assert entered.action == "ENTER" and entered.n_agents == 4 and entered.required == 3
    assert {v.agent for v in entered.votes} == {"iv_rank", "trend", "range", "analyst"}
    assert all(v.rationale for v in entered.votes)
    failed = [v for d in a.decisions for v in d.votes if v.error]
    assert failed and failed[0].action == "HOLD"
    # Realised P&L equals the sum of closed trades; validation counts the same trades.
    with Store(account_paths("sp500")["state_db"], readonly=True) as store:
        closed = [t.pnl for t in store.trades(status="closed")]
    assert a.realised == sum(closed) and a.closed_count == 26 == a.validation.trades
    # Lessons: newest by date, most frequent by occurrences (seed lessons included).
    assert a.frequent_lessons[0].occurrences == max(x.occurrences for x in a.frequent_lessons)
    assert [x.date for x in a.newest_lessons] == sorted((x.date for x in a.newest_lessons), reverse=True)
    assert {x.scope for x in a.newest_lessons} >= {"account"}
    # Health: jobs, stream, capital, STOP.
    jobs = {j.job: j for j in a.health.jobs}
    assert jobs["manage"].last_crash is not None and jobs["decision"].last_run is not None
    assert a.health.stream.status == "fresh" and a.health.stop is None and a.health.capital is None
    assert a.figures.latest == a.equity[-1][1]


def test_nasdaq_is_halted_and_out_of_capital(sample):
    a, _ = collect_account("nasdaq")
    assert a.health.stop["why"] == "investigating the 406 stream errors"
    assert a.health.state is TradingState.HALTED
    assert "stop_flag" in a.health.state_reasons and "out_of_capital" in a.health.state_reasons
    assert a.health.capital["needed"] == "780.00"
    assert a.health.stream.status == "stale" and a.health.stream.kind == "stream_406"


def _snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_collection_never_writes_into_the_memory_root(sample):
    before = _snapshot(sample)
    collect_all()
    assert _snapshot(sample) == before  # no -wal/-shm files, no changed byte


def test_reads_a_database_a_daemon_holds_open(sample):
    db = account_paths("sp500")["state_db"]
    with Store(db) as writer:  # a live daemon: WAL mode, -wal/-shm present
        writer.record_equity(datetime.now(UTC), Decimal("123456.78"), Decimal("1"))
        names = sorted(os.listdir(db.parent))
        a, _ = collect_account("sp500")
        assert a.figures.latest == Decimal("123456.78")  # sees committed WAL content
        assert sorted(os.listdir(db.parent)) == names
        writer.append_event("after_read", {})  # the reader never blocked the writer


def test_snapshot_copy_is_read_only_and_cleaned_up(sample):
    db = account_paths("sp500")["state_db"]
    with readonly_store(db) as store:
        copy = store.path
        assert copy != db and copy.exists()
        assert store.equity_curve()
    assert not copy.exists()


def test_an_unreadable_account_is_shown_not_fatal(sample):
    bad = account_paths("broken")["state_db"]
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a sqlite database" * 100)
    dash = collect_all()
    broken = [a for a in dash.accounts if a.account == "broken"][0]
    assert broken.error and "state database" in broken.error
    assert broken.state_name == "UNKNOWN"  # never "active" for an account whose state is unknown
    assert [a.account for a in dash.accounts if not a.error] == [None, "nasdaq", "sp500"]


def test_a_corrupt_database_is_named_by_its_own_path_not_the_snapshot_copy(sample):
    # F4 of RELIABILITY.md: the error named /tmp/stockbot-dashboard-*/state.db
    bad = account_paths("broken")["state_db"]
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError) as err:
        with readonly_store(bad):
            pass
    assert str(bad) in str(err.value) and "stockbot-dashboard-" not in str(err.value)
    broken = [a for a in collect_all().accounts if a.account == "broken"][0]
    assert str(bad) in broken.error


def test_settings_secrets_are_collected_for_redaction_only(sample):
    env = Path(os.environ["STOCKBOT_ENV_DIR"]) / ".env.sp500"
    env.write_text("ALPACA_API_KEY=PKTESTKEY1234567890AB\nALPACA_SECRET_KEY=s3cr3t-value-abcdefghijklmnop\n"
                   "ALPACA_PAPER=false\nALPACA_BASE_URL=https://api.alpaca.markets\n")
    env.chmod(0o600)
    a, secrets = collect_account("sp500")
    assert set(secrets) == {"PKTESTKEY1234567890AB", "s3cr3t-value-abcdefghijklmnop"}
    assert not a.settings.paper and a.settings.loaded
    assert "PKTEST" not in repr(a)
    env.chmod(0o644)  # world-readable keys: settings refused, defaults shown with a warning
    a2, secrets2 = collect_account("sp500")
    assert not a2.settings.loaded and secrets2 == ()


@pytest.mark.parametrize("verdict_case", ["paper", "blocked", "override"])
def test_validation_verdicts(sample, verdict_case):
    env = Path(os.environ["STOCKBOT_ENV_DIR"]) / ".env.nasdaq"
    lines = {"paper": "", "blocked": "ALPACA_PAPER=false\n",
             "override": "ALPACA_PAPER=false\nVALIDATION_LIVE_OVERRIDE=true\n"}[verdict_case]
    env.write_text(lines)
    a, _ = collect_account("nasdaq")
    assert a.validation_verdict == verdict_case
    assert not a.validation.passed  # 5 trades, 2 losses: far from the gate


def test_llm_spend_vs_budget_is_in_the_health_data_and_on_the_page(tmp_path):
    from stockbot.dashboard.render import render_page
    from stockbot.store_llm import LLMCall, record_call

    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    with Store.for_account("llmacct") as s:
        for _ in range(3):
            record_call(s, LLMCall(agent="gpt", model="openai/gpt-4o-mini", prompt_sha256="b" * 64,
                                   response_format="json_schema", raw="{}", prompt_tokens=1000, completion_tokens=60,
                                   cost_usd=2.0, estimated=False, latency_s=1.0), decision_id="d", ts=now)
    data, _ = collect_account("llmacct", now=now)
    llm = data.health.llm
    assert llm["calls"] == 3 and llm["spent_usd"] == 6.0 and llm["budget_usd"] == 5.0 and llm["exhausted"]
    assert llm["tokens"] == 3180 and "LLM_DAILY_BUDGET_USD" in llm["reason"]
    page = render_page(collect_all(now=now, accounts=["llmacct"]))
    assert 'data-i18n="health.llm"' in page and "$6.0000 of $5" in page and 'data-i18n="llm.spent"' in page
