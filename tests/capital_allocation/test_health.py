"""``/health/``: 200 when the database and the broker answer, 503 naming the one that does not; a worker
without a heartbeat is down, late jobs degrade it, a young process is starting; the probes are bounded and
shared; anonymous callers see status words, staff the details."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from allocations.models import JobExecution, WorkerHeartbeat
from allocations.services.job_liveness import worker_heartbeat_record
from capital_allocation import health as health_module
from capital_allocation.celery import app as celery_app
from capital_allocation.health import DAILY_REBALANCE_JOB
from tests.allocations.jobs_support import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_running():
    """The web process started long ago: no ``starting`` grace."""
    health_module.forget(started=time.monotonic() - 10 * settings.HEALTH_STARTING_SECONDS - 1)


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def jobs_on_time(long_running):
    """Beat sent a task a minute ago, the daily rebalance sweep finished two minutes ago, a worker beat now."""
    now = timezone.now()
    worker_heartbeat_record(hostname="celery@test")
    PeriodicTask.objects.filter(task="allocations.deliver_webhooks").update(last_run_at=now - dt.timedelta(minutes=1))
    JobExecution.objects.create(
        job=DAILY_REBALANCE_JOB,
        status=JobExecution.Status.SUCCEEDED,
        started_at=now - dt.timedelta(minutes=2, seconds=1),
        finished_at=now - dt.timedelta(minutes=2),
        summary={"due": 0},
    )
    return now


def test_health_ok_with_the_configured_database_and_broker(staff, jobs_on_time):
    response = staff.get("/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert {k: body[k] for k in ("status", "database_vendor", "database", "broker", "down", "late")} == {
        "status": "ok",
        "database_vendor": connection.vendor,
        "database": "ok",
        "broker": "ok",
        "down": [],
        "late": [],
    }
    assert body["beat"]["status"] == "ok" and 55 <= body["beat"]["age_seconds"] < 120
    assert body["daily_rebalance"]["status"] == "ok" and 115 <= body["daily_rebalance"]["age_seconds"] < 180


def test_health_names_a_late_beat_but_stays_200(staff, jobs_on_time):
    with time_machine.travel(jobs_on_time + dt.timedelta(hours=1), tick=False):
        worker_heartbeat_record(hostname="celery@test")
        body = staff.get("/health/").json()
    assert body["status"] == "degraded"
    assert body["late"] == ["beat"]
    assert body["beat"]["status"] == "late", body
    assert body["beat"]["age_seconds"] == pytest.approx(3660, abs=1), body
    assert body["daily_rebalance"]["age_seconds"] == pytest.approx(3720, abs=1)  # the sweep's age, for information
    assert body["down"] == []


def test_health_says_when_beat_never_ran(staff, long_running):
    worker_heartbeat_record(hostname="celery@test")
    PeriodicTask.objects.update(last_run_at=None)
    response = staff.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["beat"] == {"last": None, "age_seconds": None, "status": "never"}
    assert body["late"] == ["beat"]


def _policy_time_passed(hours: int) -> dt.datetime:
    """A weekday moment ``hours`` after 09:00 UTC, the policy's rebalance time (time-proof: pinned)."""
    return dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC) + dt.timedelta(hours=hours)  # a Wednesday


def test_daily_rebalance_is_late_when_a_due_rebalance_did_not_happen_though_the_sweep_ran(staff, long_running):
    # the sweep ran (it recorded a success) but the portfolio's rebalance never happened (a lost fan-out)
    with time_machine.travel(_policy_time_passed(2), tick=False):
        portfolio = book("late-book", at="09:00", until=dt.date(2026, 11, 24))
        now = timezone.now()
        JobExecution.objects.create(
            job=DAILY_REBALANCE_JOB, status=JobExecution.Status.SUCCEEDED, started_at=now, finished_at=now
        )
        PeriodicTask.objects.update(last_run_at=now)
        worker_heartbeat_record(hostname="celery@test")
        body = staff.get("/health/").json()
    assert body["daily_rebalance"]["status"] == "late", body
    assert body["daily_rebalance"]["overdue_portfolios"] == [portfolio.pk]
    assert body["late"] == ["daily_rebalance"] and body["status"] == "degraded"


def test_daily_rebalance_is_ok_when_today_s_due_rebalances_ran(staff, long_running):
    from allocations.services.jobs import portfolio_rebalance_scheduled

    with time_machine.travel(_policy_time_passed(2), tick=False):
        portfolio = book("ran-book", at="09:00", until=dt.date(2026, 11, 24))
        portfolio_rebalance_scheduled(portfolio_id=portfolio.pk, run_date=dt.date(2026, 11, 25))
        PeriodicTask.objects.update(last_run_at=timezone.now())
        worker_heartbeat_record(hostname="celery@test")
        body = staff.get("/health/").json()  # no sweep ever recorded: what counts is that the rebalance ran
    assert body["daily_rebalance"]["status"] == "ok", body
    assert body["daily_rebalance"]["overdue"] == 0
    assert body["status"] == "ok"


def test_a_rebalance_due_for_less_than_the_late_window_is_not_late(staff, long_running):
    with time_machine.travel(_policy_time_passed(0) + dt.timedelta(minutes=10), tick=False):
        book("soon-book", at="09:00", until=dt.date(2026, 11, 24))
        PeriodicTask.objects.update(last_run_at=timezone.now())
        worker_heartbeat_record(hostname="celery@test")
        body = staff.get("/health/").json()
    assert body["daily_rebalance"]["status"] == "ok", body


def test_a_worker_without_a_heartbeat_for_a_minute_is_down(staff, jobs_on_time):
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - dt.timedelta(seconds=61))
    response = staff.get("/health/")
    body = response.json()
    assert body["worker"]["status"] == "down", body
    assert body["down"] == ["worker"] and body["status"] == "error"
    assert response.status_code == 200  # the web process serves: a load balancer keeps it


def test_no_worker_ever_is_down(staff, jobs_on_time):
    WorkerHeartbeat.objects.all().delete()
    body = staff.get("/health/").json()
    assert body["worker"]["status"] == "down" and "worker" in body["down"]


def test_a_process_that_just_started_says_starting_not_degraded(client):
    PeriodicTask.objects.update(last_run_at=None)  # nothing has run yet, no worker has beaten
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "starting", body
    assert body["beat"]["status"] == body["worker"]["status"] == "starting"
    assert body["late"] == [] and body["down"] == []


def test_anonymous_callers_get_status_words_only(client, broken_broker, jobs_on_time):
    body = client.get("/health/").json()
    assert body["broker"] == "error"
    assert "127.0.0.1" not in str(body) and "database_vendor" not in body
    assert body["beat"] == {"status": "ok"} and body["down"] == ["broker"]


def test_the_metrics_token_sees_the_details(client, settings, broken_broker):
    settings.METRICS_TOKEN = "t" * 40
    body = client.get("/health/", HTTP_AUTHORIZATION="Bearer " + "t" * 40).json()
    assert "127.0.0.1:1" in body["broker"]


def test_health_uses_the_configured_broker():
    # The check must look at the broker the settings name, not a default of Celery's.
    assert celery_app.conf.broker_url == settings.CELERY_BROKER_URL


@pytest.mark.redis
def test_health_ok_on_redis(client):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert client.get("/health/").json()["broker"] == "ok"


@pytest.mark.postgres
def test_health_reports_postgresql(staff, client):
    assert staff.get("/health/").json()["database_vendor"] == "postgresql"  # a detail: staff only
    assert "database_vendor" not in type(client)().get("/health/").json()


@pytest.fixture
def broken_broker(settings, monkeypatch):
    """Point the Celery app at a port where nothing listens, then put the configured broker back."""
    settings.HEALTH_BROKER_TIMEOUT = 1
    # Celery's ``broker_url`` prefers the CELERY_BROKER_URL environment variable over its config.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    configured = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        yield
    finally:
        celery_app.conf.broker_url = configured


def test_health_503_names_the_broker_when_it_is_down(staff, broken_broker):
    response = staff.get("/health/")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error:")
    assert "127.0.0.1:1" in body["broker"]  # the operator sees which broker failed
    assert body["down"] == ["broker"]


def test_health_503_names_the_database_when_it_fails(staff, monkeypatch):
    from capital_allocation import health

    staff.get("/")  # the session is read before the database goes away

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("db is down")

    monkeypatch.setattr(health, "_database_status", lambda: "error: RuntimeError: db is down")
    response = staff.get("/health/")
    body = response.json()
    assert response.status_code == 503
    assert body["database"] == "error: RuntimeError: db is down"


def test_health_refuses_post(client):
    assert client.post("/health/").status_code == 405


def test_a_broker_that_does_not_answer_costs_one_short_probe_shared_by_concurrent_callers(client, monkeypatch):
    """Issue 21, item 14: 2 s per anonymous call while Redis was down, four calls filled the threads."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    configured = celery_app.conf.broker_url
    # a blackholed address: the connection attempt waits for its timeout (no quick "refused")
    celery_app.conf.broker_url = "redis://10.255.255.1:6379/0"
    probes = []
    real = health_module._broker_status
    monkeypatch.setattr(health_module, "_broker_status", lambda: probes.append(1) or real())
    answers, times = [], []

    def call():
        started = time.monotonic()
        answers.append(client.get("/health/").status_code)
        times.append(time.monotonic() - started)

    try:
        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        celery_app.conf.broker_url = configured
    assert answers == [503] * 8
    assert len(probes) == 1, "every caller of these seconds shares one probe"
    assert max(times) < settings.HEALTH_BROKER_TIMEOUT * 2 + 0.5, times
