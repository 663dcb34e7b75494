"""allocations/calendar.py: business days and the portfolio's time zone (no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from allocations import calendar


def test_business_days_from_a_monday_skip_the_weekend():
    monday = dt.date(2024, 1, 1)
    assert calendar.business_days_from(monday, 7) == [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5, 8, 9)]


@pytest.mark.parametrize("start", [dt.date(2024, 1, 6), dt.date(2024, 1, 7)], ids=["saturday", "sunday"])
def test_business_days_from_a_weekend_start_on_the_next_monday(start):
    assert calendar.business_days_from(start, 3) == [dt.date(2024, 1, 8), dt.date(2024, 1, 9), dt.date(2024, 1, 10)]


def test_business_days_from_zero_is_empty():
    assert calendar.business_days_from(dt.date(2024, 1, 6), 0) == []


def test_business_days_agree_with_numpys_business_day_calendar():
    rng = np.random.default_rng(11)
    for _ in range(50):
        start = dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2000)))
        count = int(rng.integers(1, 30))
        # second method: numpy's busday_offset (Mon-Fri, no holidays), rolling a weekend start forward
        expected = [np.busday_offset(np.datetime64(start), k, roll="forward").astype(dt.date) for k in range(count)]
        assert calendar.business_days_from(start, count) == expected, (start, count)


def test_local_date_is_the_calendar_date_in_the_portfolios_zone():
    friday_late = dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.UTC)  # a Friday in UTC
    assert calendar.local_date(friday_late, "UTC") == dt.date(2024, 1, 5)
    assert calendar.local_date(friday_late, "Asia/Tokyo") == dt.date(2024, 1, 6)  # 08:30 Saturday, UTC+9
    early = dt.datetime(2024, 1, 6, 2, 0, tzinfo=dt.UTC)  # Saturday in UTC, still Friday 21:00 in New York
    assert calendar.local_date(early, "America/New_York") == dt.date(2024, 1, 5)


def test_steps_planned_late_on_friday_utc_start_on_monday_in_tokyo():
    friday_late = dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.UTC)
    days = calendar.business_days_from(calendar.local_date(friday_late, "Asia/Tokyo"), 2)
    assert days == [dt.date(2024, 1, 8), dt.date(2024, 1, 9)]
    # in UTC the same moment is still Friday, so the plan would start that Friday
    assert calendar.business_days_from(calendar.local_date(friday_late, "UTC"), 1) == [dt.date(2024, 1, 5)]


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../../etc/passwd", "Not A Zone"])
def test_an_unknown_zone_falls_back_to_utc(name):
    assert calendar.zone_of(name) == ZoneInfo("UTC")
    friday_late = dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.UTC)
    assert calendar.local_date(friday_late, name) == dt.date(2024, 1, 5)
