"""When a scheduled rebalance is due: the pure rule of ``allocations.selectors.jobs`` (no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from allocations.selectors.jobs import rebalance_date_due, rebalance_period

AT = dt.time(16, 0)
PARIS = ZoneInfo("Europe/Paris")


def due(frequency, moment, scheduled=(), at=AT):
    return rebalance_date_due(frequency=frequency, at=at, local_now=moment, scheduled=set(scheduled))


@pytest.mark.parametrize(
    ("frequency", "day", "period"),
    [
        ("daily", dt.date(2026, 12, 2), (dt.date(2026, 12, 2), dt.date(2026, 12, 2))),
        ("weekly", dt.date(2026, 12, 2), (dt.date(2026, 11, 30), dt.date(2026, 12, 6))),
        ("weekly", dt.date(2026, 3, 1), (dt.date(2026, 2, 23), dt.date(2026, 3, 1))),  # a Sunday
        ("monthly", dt.date(2026, 2, 14), (dt.date(2026, 2, 1), dt.date(2026, 2, 28))),
        ("monthly", dt.date(2026, 12, 31), (dt.date(2026, 12, 1), dt.date(2026, 12, 31))),
    ],
)
def test_rebalance_period(frequency, day, period):
    assert rebalance_period(frequency, day) == period


def test_due_from_the_policy_time_on_business_days_only():
    wednesday = dt.datetime(2026, 12, 2, 15, 59, 59, tzinfo=PARIS)
    assert due("daily", wednesday) is None
    assert due("daily", wednesday.replace(hour=16, second=0)) == dt.date(2026, 12, 2)
    assert due("daily", dt.datetime(2026, 12, 5, 18, 0, tzinfo=PARIS)) is None  # Saturday
    assert due("daily", wednesday.replace(hour=17), scheduled=[dt.date(2026, 12, 2)]) is None
    assert due("daily", wednesday.replace(hour=17), scheduled=[dt.date(2026, 12, 1)]) == dt.date(2026, 12, 2)


def test_weekly_and_monthly_run_once_per_period_on_the_first_business_day_reached():
    tuesday = dt.datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    assert due("weekly", tuesday) == dt.date(2026, 12, 1)  # Monday's run was missed: Tuesday catches up
    assert due("weekly", tuesday, scheduled=[dt.date(2026, 11, 30)]) is None
    assert due("weekly", tuesday, scheduled=[dt.date(2026, 11, 27)]) == dt.date(2026, 12, 1)  # last week's
    assert due("monthly", tuesday, scheduled=[dt.date(2026, 11, 30)]) == dt.date(2026, 12, 1)
    assert due("monthly", tuesday, scheduled=[dt.date(2026, 12, 1)]) is None


def test_manual_and_unknown_frequencies_are_never_due():
    moment = dt.datetime(2026, 12, 2, 17, 0, tzinfo=PARIS)
    assert due("manual", moment) is None
    assert due("hourly", moment) is None
    assert due("daily", moment, at=None) is None
