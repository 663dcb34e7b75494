"""Workers' heartbeats and the job executions a dead worker left running (issue 21, items 13 and 14)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from allocations.models import JobExecution, WorkerHeartbeat
from allocations.services.job_liveness import job_executions_mark_lost, worker_heartbeat_record
from allocations.tasks import rebalance_all_portfolios

pytestmark = pytest.mark.django_db


def _running(seconds_ago: float) -> JobExecution:
    return JobExecution.objects.create(
        job="allocations.rebalance_portfolio", started_at=timezone.now() - dt.timedelta(seconds=seconds_ago)
    )


def test_a_job_still_running_past_the_visibility_timeout_is_marked_lost(settings):
    settings.JOB_LOST_AFTER_SECONDS = 300
    killed, recent = _running(301), _running(10)
    assert job_executions_mark_lost() == 1
    killed.refresh_from_db()
    recent.refresh_from_db()
    assert killed.status == JobExecution.Status.LOST and killed.finished_at is None
    assert "its worker died" in killed.error
    assert recent.status == JobExecution.Status.RUNNING


def test_the_lost_job_setting_follows_the_visibility_timeout(settings):
    assert settings.JOB_LOST_AFTER_SECONDS == settings.CELERY_VISIBILITY_TIMEOUT


def test_beat_s_rebalance_sweep_marks_the_lost_jobs(settings):
    settings.JOB_LOST_AFTER_SECONDS = 60
    killed = _running(3600)
    rebalance_all_portfolios.apply()
    killed.refresh_from_db()
    assert killed.status == JobExecution.Status.LOST
    sweep = JobExecution.objects.filter(job="allocations.rebalance_all_portfolios").get()
    assert sweep.summary["lost"] == 1


def test_a_heartbeat_is_one_row_per_worker_moved_forward():
    worker_heartbeat_record(hostname="celery@a", pid=10)
    first = WorkerHeartbeat.objects.get().beat_at
    worker_heartbeat_record(hostname="celery@a", pid=10)
    worker_heartbeat_record(hostname="celery@b", pid=11)
    assert WorkerHeartbeat.objects.count() == 2
    assert WorkerHeartbeat.objects.get(hostname="celery@a").beat_at >= first
