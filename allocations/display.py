"""How a person reads the numbers: one formatter per kind, for the dashboard, its JSON, the run pages and the admin.

Weights are fractions of the portfolio's equity and are read as percent with two decimals
("12.34 %"), amounts in the portfolio's currency ("10,000,000.00 USD"), times in the portfolio's
zone with the zone's name ("2026-12-04 18:30 UTC"), statuses in words ("pending approval").
A missing value is an em dash, never "None" or "nan". The dashboard's JavaScript formats
percent the same way (``static/dashboard/charts.js``: ``pct``).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

MISSING = "—"

#: The statuses of runs, schedules, steps and proposals whose code does not read as words once the
#: underscores are spaces.
STATUS_WORDS = {"no_op": "no change needed"}


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def percent(fraction, digits: int = 2, *, signed: bool = False) -> str:
    """``0.1234`` -> ``"12.34 %"`` (``signed``: ``"+12.34 %"``)."""
    number = _number(fraction)
    if number is None:
        return MISSING
    text = f"{number * 100:{'+' if signed else ''},.{digits}f}"
    if text.lstrip("+-") == f"{0:.{digits}f}":
        text = text.lstrip("+-")  # "-0.00 %" would read as a move
    return f"{text} %"


def money(amount, currency: str = "") -> str:
    """``Decimal("9999999.99"), "USD"`` -> ``"9,999,999.99 USD"``."""
    if amount is None or amount == "":
        return MISSING
    value = Decimal(str(amount))
    if not value.is_finite():
        return MISSING
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def when(moment: datetime | None, zone: str | None = None) -> str:
    """An aware time in ``zone`` (the portfolio's; else the site's), to the minute, with the zone's name."""
    if moment is None:
        return MISSING
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    local = moment.astimezone(ZoneInfo(zone)) if zone else timezone.localtime(moment)
    return local.strftime("%Y-%m-%d %H:%M %Z")


def status_words(status) -> str:
    """``"pending_approval"`` -> ``"pending approval"``."""
    if not status:
        return MISSING
    status = str(status)
    return STATUS_WORDS.get(status, status.replace("_", " "))


def run_outcome_words(status: str, *, steps: int = 0) -> str:
    """What a rebalance did, in words: ``"step 1 of 5 applied"`` when it planned several steps."""
    if status == "applied" and steps > 1:
        return f"step 1 of {steps} applied"
    return status_words(status)
