"""``/health/``: 200 when the database and the broker answer, 503 naming the one that does not."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from capital_allocation.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_health_ok_with_the_configured_database_and_broker(client):
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body == {"status": "ok", "database_vendor": connection.vendor, "database": "ok", "broker": "ok"}


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
