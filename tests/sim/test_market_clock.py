"""SimClock: NYSE holidays and early closes (exchange_calendars XNYS), sessions, next open/close, jumps."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from stockbot.sim.clock import (CALENDAR_END, CALENDAR_START, NY, OutsideCalendar, SimClock, is_trading_day,
                                next_trading_day, nyse_early_closes, nyse_holidays, prev_trading_day,
                                session_close_utc, session_open_utc, trading_day_for)

UTC = timezone.utc

# Published NYSE holiday calendars.
NYSE_HOLIDAYS = {
    2023: ["2023-01-02", "2023-01-16", "2023-02-20", "2023-04-07", "2023-05-29", "2023-06-19",
           "2023-07-04", "2023-09-04", "2023-11-23", "2023-12-25"],
    2024: ["2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
           "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25"],
    2025: ["2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26",
           "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"],
    2026: ["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
           "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"],
    2027: ["2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18",
           "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24"],
    2022: ["2022-01-17", "2022-02-21", "2022-04-15", "2022-05-30", "2022-06-20", "2022-07-04",
           "2022-09-05", "2022-11-24", "2022-12-26"],  # New Year 2022 fell on a Saturday: not observed
}
EARLY_CLOSES = {
    2023: ["2023-07-03", "2023-11-24"],
    2024: ["2024-07-03", "2024-11-29", "2024-12-24"],
    2025: ["2025-07-03", "2025-11-28", "2025-12-24"],
    2026: ["2026-11-27", "2026-12-24"],
}


@pytest.mark.parametrize("year", sorted(NYSE_HOLIDAYS))
def test_holidays_match_the_published_calendar(year):
    assert sorted(d.isoformat() for d in nyse_holidays(year)) == NYSE_HOLIDAYS[year]


@pytest.mark.parametrize("year", sorted(EARLY_CLOSES))
def test_early_closes(year):
    assert sorted(d.isoformat() for d in nyse_early_closes(year)) == EARLY_CLOSES[year]
    for text in EARLY_CLOSES[year]:
        d = date.fromisoformat(text)
        assert session_close_utc(d).astimezone(NY).hour == 13


# Unscheduled closures no rule derives: 9/11, Hurricane Sandy, the Bush and Carter mournings.
SPECIAL_CLOSURES = ["2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14", "2004-06-11", "2007-01-02",
                    "2012-10-29", "2012-10-30", "2018-12-05", "2025-01-09"]


@pytest.mark.parametrize("text", SPECIAL_CLOSURES)
def test_special_closures_are_not_sessions(text):
    d = date.fromisoformat(text)
    assert d.weekday() < 5 and not is_trading_day(d)
    assert d in nyse_holidays(d.year)
    assert not SimClock().is_open(datetime(d.year, d.month, d.day, 15, 0, tzinfo=UTC))


def test_trading_resumes_after_special_closures():
    assert next_trading_day(date(2001, 9, 10)) == date(2001, 9, 17)
    assert next_trading_day(date(2012, 10, 26)) == date(2012, 10, 31)
    assert prev_trading_day(date(2018, 12, 6)) == date(2018, 12, 4)
    assert SimClock().next_open(datetime(2025, 1, 8, 22, 0, tzinfo=UTC)) == datetime(2025, 1, 10, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["1999-11-26", "2002-07-05", "2003-12-26", "2013-07-03", "2019-12-24",
                                  "2020-11-27", "2038-11-26"])
def test_historical_early_closes_end_at_13(text):
    d = date.fromisoformat(text)
    assert d in nyse_early_closes(d.year) and is_trading_day(d)
    assert session_close_utc(d).astimezone(NY).hour == 13
    c = SimClock()
    one_pm = datetime(d.year, d.month, d.day, 13, 0, tzinfo=NY)
    assert c.is_open(one_pm - timedelta(minutes=1)) and not c.is_open(one_pm)
    assert c.next_close(one_pm - timedelta(hours=1)) == one_pm.astimezone(UTC)


def test_exchange_calendars_is_the_reference_for_2002_and_2003():
    # The old hand-written rules closed early on 2002-07-03 and not on 2002-07-05 / 2003-12-26.
    assert date(2002, 7, 3) not in nyse_early_closes(2002)
    assert session_close_utc(date(2002, 7, 3)).astimezone(NY).hour == 16


def test_dates_outside_the_calendar_fail_clearly():
    for d in (CALENDAR_START - timedelta(days=1), CALENDAR_END + timedelta(days=1)):
        with pytest.raises(OutsideCalendar, match="outside the XNYS calendar"):
            is_trading_day(d)
        with pytest.raises(OutsideCalendar):
            session_close_utc(d)
    with pytest.raises(ValueError):
        next_trading_day(CALENDAR_END)


def test_every_year_of_the_calendar_is_plausible():
    for year in range(1999, 2041):
        hol = nyse_holidays(year)
        assert all(d.weekday() < 5 for d in hol), year
        assert 8 <= len(hol) <= 13, year  # 2001: four 9/11 closures
        trading = sum(is_trading_day(date(year, 1, 1) + timedelta(days=i)) for i in range(365))
        assert 244 <= trading <= 254, (year, trading)


def test_sessions_follow_daylight_saving():
    assert session_open_utc(date(2026, 1, 5)) == datetime(2026, 1, 5, 14, 30, tzinfo=UTC)  # EST
    assert session_open_utc(date(2026, 7, 6)) == datetime(2026, 7, 6, 13, 30, tzinfo=UTC)  # EDT
    assert session_close_utc(date(2026, 7, 6)) == datetime(2026, 7, 6, 20, 0, tzinfo=UTC)


def test_is_open_next_open_next_close():
    c = SimClock()
    wed_1030 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
    assert c.is_open(wed_1030)
    assert c.next_close(wed_1030) == datetime(2026, 11, 18, 21, 0, tzinfo=UTC)
    assert c.next_open(wed_1030) == datetime(2026, 11, 19, 14, 30, tzinfo=UTC)
    # Thanksgiving is closed, the day after closes at 13:00.
    wed_close = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
    assert not c.is_open(wed_close)
    assert c.next_open(wed_close) == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert c.next_close(wed_close) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    sat = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert not c.is_open(sat)
    assert c.next_open(sat) == datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    pre = datetime(2026, 11, 23, 14, 29, 59, tzinfo=UTC)
    assert not c.is_open(pre) and c.is_open(pre + timedelta(seconds=1))


def test_always_open_and_jump():
    sat = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    c = SimClock(always_open=True, frozen_at=sat)
    assert c.is_open() and c.now() == sat
    assert c.next_open() > sat and c.next_close() > sat
    c.jump(3600)
    assert c.now() == sat + timedelta(hours=1)
    assert c.now_epoch() == pytest.approx((sat + timedelta(hours=1)).timestamp())
    c.jump(-7200)
    assert c.now() == sat - timedelta(hours=1)
    live = SimClock(offset_s=86400)
    assert abs((live.now() - datetime.now(UTC)).total_seconds() - 86400) < 5


def test_calendar_rows_parse_with_alpaca_py():
    from alpaca.trading.models import Calendar

    rows = SimClock().calendar(date(2026, 11, 23), date(2026, 11, 30))
    assert [r["date"] for r in rows] == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-27", "2026-11-30"]
    assert rows[3]["close"] == "13:00" and rows[0]["close"] == "16:00"
    assert rows[2]["settlement_date"] == "2026-11-27"
    cal = [Calendar(**r) for r in rows]
    assert cal[3].close == datetime(2026, 11, 27, 13, 0)


def test_trading_day_for_assigns_evenings_to_the_next_session():
    assert trading_day_for(datetime(2026, 11, 18, 15, 0, tzinfo=UTC)) == date(2026, 11, 18)
    assert trading_day_for(datetime(2026, 11, 18, 21, 0, tzinfo=UTC)) == date(2026, 11, 18)  # the close itself
    assert trading_day_for(datetime(2026, 11, 18, 21, 0, 1, tzinfo=UTC)) == date(2026, 11, 19)
    assert trading_day_for(datetime(2026, 11, 21, 12, 0, tzinfo=UTC)) == date(2026, 11, 23)
