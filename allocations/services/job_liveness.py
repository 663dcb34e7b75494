"""Is a worker alive, and what became of the jobs of one that died.

A worker records a heartbeat every ``WORKER_HEARTBEAT_SECONDS`` (``capital_allocation.celery``);
``/health/`` calls the workers down when the newest is older than ``HEALTH_WORKER_DOWN_SECONDS``.
A job execution still ``running`` past the broker's visibility timeout belongs to a worker that was
killed (its message is handed out again by then, and a new execution row is written for it): it is
marked ``lost`` so the admin and the operators stop waiting for it.
"""

from __future__ import annotations

import os
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from allocations.models import JobExecution, WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str, pid: int | None = None) -> None:
    """This worker is alive now."""
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:255], defaults={"pid": pid or os.getpid(), "beat_at": timezone.now()}
    )


def job_executions_mark_lost() -> int:
    """Mark ``lost`` every execution still running ``JOB_LOST_AFTER_SECONDS`` after it started; how many."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    return JobExecution.objects.filter(status=JobExecution.Status.RUNNING, started_at__lt=cutoff).update(
        status=JobExecution.Status.LOST,  # finished_at stays empty: it never finished
        error=f"lost: still running {settings.JOB_LOST_AFTER_SECONDS} s after it started (its worker died)",
    )
