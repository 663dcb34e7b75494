"""Business days and the portfolio's time zone: the dates a schedule's steps fall on and a
strategy's staleness is counted in.

A business day is a weekday (Monday to Friday); there is no holiday calendar. Everything is a
function of its arguments (the clock is passed in as ``today`` or ``moment``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np


def zone_of(name: str) -> ZoneInfo:
    """The portfolio's time zone; an unknown name falls back to UTC (the model's default)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(moment: datetime, zone_name: str) -> date:
    """The calendar date of ``moment`` (an aware datetime) in the time zone ``zone_name``."""
    return moment.astimezone(zone_of(zone_name)).date()


def business_days_from(start: date, count: int) -> list[date]:
    """``count`` weekdays (Monday to Friday) starting at ``start``, or at the next weekday."""
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def business_days_since_last_return(dates: Sequence[date], panel: np.ndarray, today: date) -> np.ndarray:
    """Per column of ``panel`` (T x N, rows ``dates``), the business days strictly between its last
    return and ``today``: the days whose return is missing (a column without any counts from before
    the first date). The engine holds a strategy whose count exceeds the policy's ``stale_after_days``.
    """
    n = panel.shape[1] if panel.ndim == 2 else 0
    if not len(dates) or n == 0:
        return np.zeros(n)
    observed = ~np.isnan(panel)
    last_row = len(dates) - 1 - np.argmax(observed[::-1], axis=0)
    days = np.array(dates, dtype="datetime64[D]")
    last = np.where(observed.any(axis=0), days[last_row], days[0] - np.timedelta64(1, "D"))
    return np.maximum(np.busday_count(last + np.timedelta64(1, "D"), np.datetime64(today, "D")), 0).astype(float)
