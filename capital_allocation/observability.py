"""Hooks that observe the domain without taking part in it: metrics and log context from saved rows and Celery.

They read what the services already write (a run's ``explanation["timings_ms"]``, a step's
status, a delivery attempt, the audit chain head's row count), count only what commits
(``transaction.on_commit``) and never change a row. Connected once by ``OpsConfig.ready``.
"""

from __future__ import annotations

import inspect
import logging
import time

from django.db import transaction
from django.db.models.signals import post_init, post_save

from capital_allocation import logs, metrics

run_logger = logging.getLogger("capital_allocation.runs")
task_logger = logging.getLogger("capital_allocation.tasks")


def _run_saved(sender, instance, created, **kwargs):
    if not created:
        return
    portfolio = getattr(instance.portfolio, "slug", None) if instance.portfolio_id else None
    user = instance.requested_by.get_username() if instance.requested_by_id else None
    # every later line of this request or task is about this run
    logs.bind(run_id=str(instance.public_id), portfolio=portfolio, portfolio_id=instance.portfolio_id, user=user)
    timings = (instance.explanation or {}).get("timings_ms") or {}
    status, trigger = instance.status, instance.trigger

    def record():
        for stage, ms in timings.items():
            if isinstance(ms, int | float):
                metrics.REBALANCE_STAGE.labels(stage).observe(ms / 1000.0)
        metrics.REBALANCE_RUNS.labels(status, trigger).inc()

    transaction.on_commit(record)
    run_logger.info(
        "allocation run %s recorded: %s",
        instance.public_id,
        status,
        extra={"run_status": status, "trigger": trigger, "turnover": round(float(instance.turnover), 6)},
    )


def _step_saved(sender, instance, created, update_fields=None, **kwargs):
    if instance.status == "applied" and (update_fields is None or "status" in update_fields):
        transaction.on_commit(metrics.STEPS_APPLIED.inc)


def _attempt_saved(sender, instance, created, **kwargs):
    if created:
        result = "delivered" if instance.succeeded else "failed"
        transaction.on_commit(lambda: metrics.OUTBOX_ATTEMPTS.labels(result).inc())


def _delivery_saved(sender, instance, created, update_fields=None, **kwargs):
    if instance.status == "dead" and (update_fields is None or "status" in update_fields):
        transaction.on_commit(metrics.OUTBOX_DEAD.inc)


def _head_loaded(sender, instance, **kwargs):
    instance._count_as_loaded = instance.__dict__.get("count") or 0  # never loads a deferred field


def _head_saved(sender, instance, created, **kwargs):
    """Every append moves the portfolio's chain head by the rows it added (``services.audit``)."""
    added = (instance.count or 0) - (0 if created else getattr(instance, "_count_as_loaded", instance.count or 0))
    instance._count_as_loaded = instance.count or 0
    if added > 0:
        transaction.on_commit(lambda: metrics.AUDIT_ROWS.inc(added))


# ---- Celery: the task's id, name and portfolio on every line it writes; duration and outcome counted
_task_state: dict[str, tuple] = {}


def _portfolio_of(task, args, kwargs) -> int | None:
    try:
        bound_args = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {})).arguments
    except (TypeError, ValueError):
        return None
    return bound_args.get("portfolio_id")


def _task_started(sender=None, task_id=None, task=None, args=None, kwargs=None, **extra):
    token = logs.new_context(
        task_id=task_id, task=getattr(task, "name", None), portfolio_id=_portfolio_of(task, args, kwargs)
    )
    _task_state[task_id] = (token, time.perf_counter())
    task_logger.info("task started")


def _task_finished(sender=None, task_id=None, task=None, state=None, **extra):
    token, started = _task_state.pop(task_id, (None, None))
    name = getattr(task, "name", "unknown")
    if started is not None:
        elapsed = time.perf_counter() - started
        metrics.TASK_DURATION.labels(name).observe(elapsed)
        task_logger.info("task finished: %s", state, extra={"state": state, "duration_ms": round(elapsed * 1000, 2)})
    metrics.TASKS.labels(name, (state or "unknown").lower()).inc()
    if token is not None:
        try:
            logs.reset_context(token)
        except ValueError:  # ended in another context (a pool that switched): start afresh
            logs.new_context()


def _task_failed(sender=None, task_id=None, exception=None, **extra):
    task_logger.error("task failed: %s: %s", exception.__class__.__name__, exception)


def connect() -> None:
    from celery import signals as celery_signals

    from allocations.models import AllocationRun, AuditChainHead, DeliveryAttempt, TransitionStep, WebhookDelivery

    post_save.connect(_run_saved, sender=AllocationRun, dispatch_uid="cae_obs_run")
    post_save.connect(_step_saved, sender=TransitionStep, dispatch_uid="cae_obs_step")
    post_save.connect(_attempt_saved, sender=DeliveryAttempt, dispatch_uid="cae_obs_attempt")
    post_save.connect(_delivery_saved, sender=WebhookDelivery, dispatch_uid="cae_obs_delivery")
    post_init.connect(_head_loaded, sender=AuditChainHead, dispatch_uid="cae_obs_head_init")
    post_save.connect(_head_saved, sender=AuditChainHead, dispatch_uid="cae_obs_head")
    celery_signals.task_prerun.connect(_task_started, dispatch_uid="cae_obs_task_start")
    celery_signals.task_postrun.connect(_task_finished, dispatch_uid="cae_obs_task_end")
    celery_signals.task_failure.connect(_task_failed, dispatch_uid="cae_obs_task_fail")
