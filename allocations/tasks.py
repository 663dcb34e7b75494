"""Celery tasks: thin, take ids, call services, safe to run twice; every run is a ``JobExecution``.

Beat (django-celery-beat's database scheduler; the rows come from migrations and are editable in
the admin) sends the three sweeps: ``rebalance_all_portfolios`` every 5 minutes,
``apply_due_transition_steps`` every 15 minutes and ``deliver_webhooks`` every minute. A sweep
finds its work in the database, so a message lost with a killed worker or a Redis restart is
made good by the next one; messages are acknowledged late and redelivered after the broker's
visibility timeout (``CELERY_VISIBILITY_TIMEOUT``).
"""

from __future__ import annotations

import logging
from datetime import date

from celery import shared_task
from django.db import DatabaseError, InterfaceError
from kombu.exceptions import OperationalError as BrokerError

from allocations.errors import DomainError, PortfolioBusyError
from allocations.selectors.jobs import rebalances_due
from allocations.services.job_liveness import job_executions_mark_lost
from allocations.services.jobs import (
    as_of_parse,
    job_execution_recorded,
    portfolio_rebalance_scheduled,
    transition_steps_apply_due,
)
from allocations.services.webhook_delivery import webhook_deliveries_send_due

logger = logging.getLogger(__name__)

# Database trouble and a busy portfolio are worth retrying; the domain's refusals are not.
TRANSIENT = (DatabaseError, InterfaceError, PortfolioBusyError)
RETRY = {"retry_backoff": 5, "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}


@shared_task(name="allocations.rebalance_all_portfolios", bind=True, autoretry_for=(*TRANSIENT, BrokerError), **RETRY)
def rebalance_all_portfolios(self, as_of: str | None = None) -> int:
    """Fan out one ``rebalance_portfolio`` per portfolio whose policy makes a rebalance due at ``as_of``.

    ``as_of`` (an ISO timestamp, default now) lets an operator catch up a missed day: what was
    due at that moment runs now, for that date. Sent twice, the second fan-out finds the runs
    already written (or fails on the unique constraint) and writes nothing.
    """
    moment = as_of_parse(as_of)
    with job_execution_recorded(
        job=self.name, task_id=self.request.id or "", arguments={"as_of": as_of} if as_of else {}
    ) as log:
        due = rebalances_due(as_of=moment)
        log.summary.update(as_of=moment.isoformat(), due=len(due), portfolios=[d.portfolio_id for d in due][:1000])
        log.summary.update(lost=job_executions_mark_lost())  # the executions a killed worker left running
        for item in due:  # a catch-up passes its moment on: the runs take effect then (``allocations.clock``)
            extra = {"as_of": moment.isoformat()} if as_of else {}
            rebalance_portfolio.delay(item.portfolio_id, item.run_date.isoformat(), log.id, **extra)
    return len(due)


@shared_task(name="allocations.rebalance_portfolio", bind=True, autoretry_for=TRANSIENT, **RETRY)
def rebalance_portfolio(
    self, portfolio_id: int, run_date: str, parent_id: int | None = None, as_of: str | None = None
) -> str:
    """The scheduled rebalance of one portfolio for ``run_date``: the run's status, or ``already_ran``.

    ``as_of`` (a catch-up's moment) makes the run take effect then, though it runs now."""
    with job_execution_recorded(
        job=self.name,
        task_id=self.request.id or "",
        arguments={"portfolio_id": portfolio_id, "run_date": run_date},
        portfolio_id=portfolio_id,
        parent_id=parent_id,
    ) as log:
        try:
            outcome = portfolio_rebalance_scheduled(
                portfolio_id=portfolio_id,
                run_date=date.fromisoformat(run_date),
                as_of=as_of_parse(as_of) if as_of else None,
            )
        except DomainError as exc:
            outcome = "refused"
            log.fail(exc.message)
        log.summary.update(outcome=outcome, run_date=run_date)
    return outcome


@shared_task(name="allocations.apply_due_transition_steps", bind=True, autoretry_for=TRANSIENT, **RETRY)
def apply_due_transition_steps(self) -> int:
    """Apply every due step of the active schedules, in order; returns how many were applied."""
    with job_execution_recorded(job=self.name, task_id=self.request.id or "") as log:
        log.summary.update(transition_steps_apply_due())
    return log.summary["applied"]


@shared_task(name="allocations.deliver_webhooks", bind=True, autoretry_for=TRANSIENT, **RETRY)
def deliver_webhooks(self, event_id: int | None = None) -> int:
    """POST the due deliveries of one outbox event (after its commit) or of all (beat's sweep)."""
    with job_execution_recorded(
        job=self.name, task_id=self.request.id or "", arguments={"event_id": event_id} if event_id else {}
    ) as log:
        log.summary.update(webhook_deliveries_send_due(event_id=event_id))
    return log.summary["delivered"]
