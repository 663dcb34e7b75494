"""``/health/``: 200 when the database and the broker answer, 503 naming the one that does not."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from allocations.models import JobExecution
from capital_allocation.celery import app as celery_app
from capital_allocation.health import DAILY_REBALANCE_JOB

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs_on_time():
    """Beat sent a task a minute ago and the daily rebalance sweep finished two minutes ago."""
    now = timezone.now()
    PeriodicTask.objects.filter(task="allocations.deliver_webhooks").update(last_run_at=now - dt.timedelta(minutes=1))
    JobExecution.objects.create(
        job=DAILY_REBALANCE_JOB,
        status=JobExecution.Status.SUCCEEDED,
        started_at=now - dt.timedelta(minutes=2, seconds=1),
        finished_at=now - dt.timedelta(minutes=2),
        summary={"due": 0},
    )
    return now


def test_health_ok_with_the_configured_database_and_broker(client, jobs_on_time):
    response = client.get("/health/")
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


def test_health_names_late_jobs_but_stays_200(client, jobs_on_time):
    with time_machine.travel(jobs_on_time + dt.timedelta(hours=1), tick=False):
        body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert body["late"] == ["beat", "daily_rebalance"]
    assert body["beat"]["status"] == "late", body
    assert body["beat"]["age_seconds"] == pytest.approx(3660, abs=1), body
    assert body["daily_rebalance"]["age_seconds"] == pytest.approx(3720, abs=1)
    assert body["down"] == []


def test_health_says_when_beat_never_ran(client):
    PeriodicTask.objects.update(last_run_at=None)
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["beat"] == {"last": None, "age_seconds": None, "status": "never"}
    assert body["daily_rebalance"]["status"] == "never"
    assert body["late"] == ["beat", "daily_rebalance"]


def test_health_uses_the_configured_broker():
    # The check must look at the broker the settings name, not a default of Celery's.
    assert celery_app.conf.broker_url == settings.CELERY_BROKER_URL


@pytest.mark.redis
def test_health_ok_on_redis(client):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert client.get("/health/").json()["broker"] == "ok"


@pytest.mark.postgres
def test_health_reports_postgresql(client):
    assert client.get("/health/").json()["database_vendor"] == "postgresql"


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


def test_health_503_names_the_broker_when_it_is_down(client, broken_broker):
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error:")
    assert "127.0.0.1:1" in body["broker"]  # the operator sees which broker failed
    assert body["down"] == ["broker"]


def test_health_503_names_the_database_when_it_fails(client, monkeypatch):
    from capital_allocation import health

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("db is down")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 503
    assert body["database"] == "error: RuntimeError: db is down"


def test_health_refuses_post(client):
    assert client.post("/health/").status_code == 405
