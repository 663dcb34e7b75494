"""Reads of the scheduled jobs: which portfolios are due a rebalance, due webhook deliveries, the
outbox and job executions, and the last beat tick (for ``/health/``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Max, OuterRef, QuerySet, Subquery
from django_celery_beat.models import PeriodicTask

from allocations.calendar import zone_of
from allocations.models import (
    AllocationPolicy,
    AllocationRun,
    JobExecution,
    OutboxEvent,
    Portfolio,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHeartbeat,
)
from allocations.selectors.ordering import newest_first

SCHEDULED_FREQUENCIES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class DueRebalance:
    portfolio_id: int
    run_date: date


def rebalance_period(frequency: str, day: date) -> tuple[date, date]:
    """The first and last calendar day of the period (day, ISO week, month) that ``day`` falls in."""
    if frequency == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if frequency == "monthly":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return start, following - timedelta(days=1)
    return day, day


def rebalance_date_due(*, frequency: str, at: time | None, local_now: datetime, scheduled: set[date]) -> date | None:
    """The run date of the scheduled rebalance due at ``local_now`` (the portfolio's wall clock), or None.

    Due on a business day (Monday to Friday) from the policy's ``rebalance_time`` on, when no
    scheduled run falls in the current period yet: every business day (daily), the first business
    day of the week or month that the job reaches (weekly, monthly). ``manual`` is never due.
    """
    if frequency not in SCHEDULED_FREQUENCIES or at is None:
        return None
    day = local_now.date()
    if day.weekday() >= 5 or local_now.time() < at:
        return None
    start, end = rebalance_period(frequency, day)
    if any(start <= d <= end for d in scheduled):
        return None
    return day


def rebalances_due(*, as_of: datetime) -> list[DueRebalance]:
    """The portfolios whose current policy makes a scheduled rebalance due at ``as_of`` (aware), by id."""
    latest = AllocationPolicy.objects.filter(portfolio=OuterRef("pk")).order_by("-version")
    rows = list(
        Portfolio.objects.annotate(
            frequency=Subquery(latest.values("rebalance_frequency")[:1]),
            at=Subquery(latest.values("rebalance_time")[:1]),
        )
        .filter(frequency__in=SCHEDULED_FREQUENCIES)
        .order_by("pk")
        .values_list("pk", "timezone", "frequency", "at")
    )
    if not rows:
        return []
    local = {pk: as_of.astimezone(zone_of(zone)) for pk, zone, _, _ in rows}
    since = min(rebalance_period("monthly", moment.date())[0] for moment in local.values()) - timedelta(days=7)
    scheduled: dict[int, set[date]] = defaultdict(set)
    for pk, day in AllocationRun.objects.filter(
        trigger=AllocationRun.Trigger.SCHEDULE, run_date__gte=since, portfolio_id__in=list(local)
    ).values_list("portfolio_id", "run_date"):
        scheduled[pk].add(day)
    due = []
    for pk, _, frequency, at in rows:
        if at is not None and (
            day := rebalance_date_due(frequency=frequency, at=at, local_now=local[pk], scheduled=scheduled[pk])
        ):
            due.append(DueRebalance(portfolio_id=pk, run_date=day))
    return due


def scheduled_run_exists(*, portfolio_id: int, run_date: date) -> bool:
    return AllocationRun.objects.filter(
        portfolio_id=portfolio_id, trigger=AllocationRun.Trigger.SCHEDULE, run_date=run_date
    ).exists()


def endpoint_ids_active(*, portfolio_id: int) -> list[int]:
    return list(WebhookEndpoint.objects.filter(portfolio_id=portfolio_id, is_active=True).values_list("pk", flat=True))


def endpoint_list(*, portfolio: Portfolio) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(portfolio=portfolio).order_by("id")


def deliveries_due(*, now: datetime, event_id: int | None = None, limit: int = 200) -> list[tuple[int, int]]:
    """(delivery id, endpoint id) of pending deliveries whose next attempt is due, oldest first."""
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
    if event_id is not None:
        due = due.filter(event_id=event_id)
    return list(due.order_by("next_attempt_at", "id").values_list("pk", "endpoint_id")[:limit])


def outbox_event_list(*, portfolio: Portfolio) -> QuerySet[OutboxEvent]:
    return newest_first(OutboxEvent, portfolio=portfolio, related=("run", "step")).prefetch_related(
        "deliveries__endpoint", "deliveries__attempt_log"
    )


def outbox_event_get(*, portfolio: Portfolio, public_id) -> OutboxEvent | None:
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return outbox_event_list(portfolio=portfolio).filter(public_id=key).first()


def job_last_finished(*, job: str) -> JobExecution | None:
    """The last execution of ``job`` that ended (succeeded or failed)."""
    return (
        JobExecution.objects.filter(job=job, finished_at__isnull=False, parent__isnull=True)
        .order_by("-finished_at", "-id")
        .first()
    )


def beat_last_tick() -> datetime | None:
    """When beat last sent a periodic task (django-celery-beat writes it, at most a few minutes late)."""
    return PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]


def worker_last_heartbeat() -> datetime | None:
    """When the most recently alive Celery worker last recorded its heartbeat (``services.job_liveness``)."""
    return WorkerHeartbeat.objects.aggregate(last=Max("beat_at"))["last"]


def rebalances_overdue(*, now: datetime, late_after: int) -> list[DueRebalance]:
    """The scheduled rebalances that were already due ``late_after`` seconds ago and have still not run.

    What ``rebalances_due`` finds at that earlier moment against today's runs: a due rebalance that
    ran since (the sweep's fan-out did its work) is no longer in it, whatever the sweep's own record says.
    """
    return rebalances_due(as_of=now - timedelta(seconds=late_after))
