"""When the day's decision time has passed: the last cron fire time of today (pure)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from stockbot.daemon.jobs import missed_fire_time

NY = ZoneInfo("America/New_York")


def test_missed_fire_time_of_the_shipped_cron():
    cron = "45 10 * * mon-fri"
    assert missed_fire_time(cron, datetime(2026, 11, 16, 10, 44, tzinfo=NY)) is None
    assert missed_fire_time(cron, datetime(2026, 11, 16, 10, 45, tzinfo=NY)) == datetime(2026, 11, 16, 10, 45, tzinfo=NY)
    assert missed_fire_time(cron, datetime(2026, 11, 16, 15, 0, tzinfo=NY)).hour == 10
    assert missed_fire_time(cron, datetime(2026, 11, 14, 12, 0, tzinfo=NY)) is None  # a Saturday


def test_the_last_of_several_fire_times():
    got = missed_fire_time("0 10,12,14 * * *", datetime(2026, 11, 16, 13, 30, tzinfo=NY))
    assert got == datetime(2026, 11, 16, 12, 0, tzinfo=NY)
