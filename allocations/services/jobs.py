"""The scheduled jobs' use cases: the daily rebalance of one portfolio, the due steps, and the
record of every job execution (``JobExecution``, shown in the admin and behind ``/health/``).

Every job is safe to run twice. A scheduled rebalance is unique per portfolio and run date (a
database constraint: a second one fails on insert and is reported as ``already_ran``); a step is
applied under the portfolio lock only while it is still pending (``services.schedules``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from allocations import clock
from allocations.errors import DomainError, PortfolioBusyError
from allocations.models import AllocationRun, JobExecution
from allocations.selectors.jobs import scheduled_run_exists

from .actors import Actor
from .locks import portfolio_lock
from .run_inputs import RebalanceRequest
from .runs import allocation_run_create
from .schedules import transition_step_apply, transition_steps_due

logger = logging.getLogger(__name__)

MAX_ERROR = 4000
DAILY_REBALANCE_ACTOR = Actor.system("beat:daily-rebalance")
STEPS_ACTOR = Actor.system("beat:transition-steps")


@dataclass
class JobLog:
    """What a running job has done so far; ``fail`` marks it failed without raising."""

    id: int
    summary: dict = field(default_factory=dict)
    failure: str = ""

    def fail(self, message: str) -> None:
        self.failure = message


@contextmanager
def job_execution_recorded(
    *,
    job: str,
    task_id: str = "",
    arguments: dict | None = None,
    portfolio_id: int | None = None,
    parent_id: int | None = None,
) -> Iterator[JobLog]:
    """Record one execution of ``job``: a row when it starts, its summary and outcome when it ends.

    An exception marks the row failed with the error and propagates (the task's retry policy
    decides what happens next).
    """
    execution = JobExecution.objects.create(
        job=job,
        task_id=task_id or "",
        arguments=arguments or {},
        portfolio_id=portfolio_id,
        parent_id=parent_id if parent_id and JobExecution.objects.filter(pk=parent_id).exists() else None,
        started_at=timezone.now(),
    )
    log = JobLog(id=execution.pk)
    try:
        yield log
    except Exception as exc:
        _finish(log, JobExecution.Status.FAILED, f"{exc.__class__.__name__}: {exc}")
        raise
    _finish(log, JobExecution.Status.FAILED if log.failure else JobExecution.Status.SUCCEEDED, log.failure)


def _finish(log: JobLog, status: str, error: str) -> None:
    JobExecution.objects.filter(pk=log.id).update(
        status=status, finished_at=timezone.now(), summary=log.summary, error=error[:MAX_ERROR]
    )


def as_of_parse(value: str | datetime | None) -> datetime:
    """The moment a job runs for: an ISO timestamp (naive means UTC) or date, default now; aware."""
    if value is None or value == "":
        return timezone.now()
    if isinstance(value, datetime):
        moment = value
    else:
        moment = parse_datetime(str(value))
        if moment is None and (day := parse_date(str(value))) is not None:
            moment = datetime(day.year, day.month, day.day, 23, 59, 59)
        if moment is None:
            raise DomainError(f"as_of must be an ISO timestamp, got {value!r}", field="as_of")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def portfolio_rebalance_scheduled(*, portfolio_id: int, run_date: date, as_of: datetime | None = None) -> str:
    """Rebalance ``portfolio_id`` as the schedule for ``run_date``: the run's status, or ``already_ran``.

    The same use case as the API (trigger ``schedule``): a drift below the force-rebalance
    threshold records a no-op run, a turnover above the approval threshold waits for approval.
    Refusals of the domain (no policy, no strategies, too little history) raise ``DomainError``.
    A catch-up (``as_of`` in the past) runs now and takes effect at ``as_of``: its audit rows say
    both (``recorded_at`` now, ``effective_at`` then; ``allocations.clock``).
    """
    if as_of is not None and as_of < timezone.now():
        with clock.effective(as_of):
            return portfolio_rebalance_scheduled(portfolio_id=portfolio_id, run_date=run_date)
    if scheduled_run_exists(portfolio_id=portfolio_id, run_date=run_date):
        return "already_ran"
    request = RebalanceRequest(trigger=AllocationRun.Trigger.SCHEDULE, run_date=run_date)
    with transaction.atomic():
        # Under the portfolio's lock a duplicate (the job sent twice) sees the first run and stops
        # before computing anything; the unique constraint stays the guarantee.
        portfolio = portfolio_lock(portfolio_id)
        if scheduled_run_exists(portfolio_id=portfolio_id, run_date=run_date):
            return "already_ran"
        try:
            outcome = allocation_run_create(portfolio=portfolio, actor=DAILY_REBALANCE_ACTOR, request=request)
        except IntegrityError:
            if scheduled_run_exists(portfolio_id=portfolio_id, run_date=run_date):
                return "already_ran"
            raise
    return str(outcome.run.status)


def transition_steps_apply_due(*, today: date | None = None) -> dict:
    """Apply every due pending step once, in order; what happened, with the steps that could not go yet."""
    counts: Counter[str] = Counter()
    busy: list[int] = []
    for step_id in transition_steps_due(today=today):
        try:
            counts["applied" if transition_step_apply(step_id=step_id, actor=STEPS_ACTOR) else "skipped"] += 1
        except PortfolioBusyError:
            busy.append(step_id)  # another change of the portfolio holds it; the next sweep applies it
    if counts["applied"]:
        logger.info("applied %d due transition step(s)", counts["applied"])
    return {"applied": counts["applied"], "skipped": counts["skipped"], "busy": busy}
