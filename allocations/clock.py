"""The service's clock: when a change takes effect.

Every service reads "now" and "today" here: the wall clock, unless a caller that lives through another
time (the demo's history, a catch-up run) says so with ``effective(moment)``. The moment lives in a
context variable, so threads and tasks each see their own and nothing is patched (no ``mock`` in
product code).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime

from django.utils import timezone

_effective: ContextVar[datetime | None] = ContextVar("allocations_effective_time", default=None)


class MomentInTheFuture(ValueError):
    """``effective()`` was asked for a time later than now."""


def now() -> datetime:
    """The time changes take effect: the ``effective()`` moment inside one, else the wall clock."""
    return _effective.get() or timezone.now()


def effective_override() -> datetime | None:
    """The ``effective()`` moment in force, or None when changes take effect now."""
    return _effective.get()


def localdate(zone: str | None = None) -> date:
    """``now()``'s date in ``zone`` (default: the current time zone)."""
    moment = now()
    return timezone.localtime(moment, timezone.get_current_timezone() if zone is None else _zone(zone)).date()


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@contextmanager
def effective(moment: datetime) -> Iterator[datetime]:
    """Within the block, changes take effect at ``moment`` (aware, not later than the wall clock).

    ``now()`` is ``moment`` and each audit row gets ``effective_at`` beside the ``recorded_at`` the
    database stamps (``models.audit.AuditEntry``): the trail shows when a change was recorded and when
    it took effect. A moment later than the wall clock is refused: nothing is written from the future.
    """
    if timezone.is_naive(moment):
        raise ValueError("an effective moment needs its time zone")
    if moment > timezone.now():
        raise MomentInTheFuture(f"{moment.isoformat()} is later than now: nothing is written from the future")
    token = _effective.set(moment)
    try:
        yield moment
    finally:
        _effective.reset(token)
