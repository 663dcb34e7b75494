"""Test-wide setup: which real servers this run needs, and fixtures every test can use.

``REQUIRE_SERVICES=postgres,redis`` (set by ``make test-services``, which CI runs) makes a
missing server a failure: the run stops at start-up instead of skipping the tests that need it.
Without it, tests marked ``postgres`` or ``redis`` are skipped on SQLite / the embedded broker.
"""

from __future__ import annotations

import os

import pytest

REQUIRED = {s.strip() for s in os.environ.get("REQUIRE_SERVICES", "").split(",") if s.strip()}

# ``PIN_CLOCK=2026-12-05T02:00:00+00:00 pytest ...`` runs the whole suite as if started then (the clock
# ticks on from there): the suite must pass at any hour and on any weekday (issue 21). Pin a moment in the
# past (today's 02:00, last Saturday): the database's clock (audit rows' recorded_at) is not pinned, and a
# database clock behind the process's is a machine no deployment has.
PIN_CLOCK = os.environ.get("PIN_CLOCK", "")


def _database_vendor() -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else engine.rsplit(".", 1)[-1]


def _broker_is_redis() -> bool:
    from django.conf import settings

    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def pytest_sessionstart(session):
    if PIN_CLOCK:
        import time_machine

        session.config._pinned_clock = time_machine.travel(PIN_CLOCK, tick=True)
        session.config._pinned_clock.start()
    if "postgres" in REQUIRED and _database_vendor() != "postgresql":
        pytest.exit("REQUIRE_SERVICES names postgres but DATABASE_URL is not a PostgreSQL URL", returncode=3)
    if "redis" in REQUIRED:
        if not _broker_is_redis():
            pytest.exit("REQUIRE_SERVICES names redis but CELERY_BROKER_URL is not a redis:// URL", returncode=3)
        import redis
        from django.conf import settings

        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=3).ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the server is not usable
            pytest.exit(f"Redis at {settings.CELERY_BROKER_URL} is required but unreachable: {exc}", returncode=3)


# What ``make check`` leaves out (``-m "not slow"``): the tests that start real processes (servers,
# workers, ``manage.py`` or ``pg_dump`` in a subprocess), drive the browser, build the generated
# clients or fuzz the schema. ``make test`` (and so CI) runs them all. Whole files here; the rest
# of them are marked where they are written (``@pytest.mark.slow``).
SLOW_FILES = (
    "tests/ops/",
    "tests/api_clients/",
    "tests/allocations/pages/test_browser.py",
    "tests/allocations/api/test_schema_fuzz.py",
    "tests/allocations/api/test_concurrency.py",
    "tests/allocations/test_worker.py",
    "tests/allocations/services/test_killed_rebalance.py",
    "tests/capital_allocation/test_celery.py",
    "tests/capital_allocation/test_warmup.py",
)
SLOW_FIXTURES = {"live_server"}


def pytest_collection_modifyitems(config, items):
    on_postgres = _database_vendor() == "postgresql"
    on_redis = _broker_is_redis()
    root = str(config.rootpath) + "/"
    for item in items:
        path = str(item.path).removeprefix(root)
        if path.startswith(SLOW_FILES) or SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: `make test-services` (CI runs it)"))
        if "redis" in item.keywords and not on_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: `make test-services` (CI runs it)"))


@pytest.fixture
def fresh_throttle_counts():
    """Throttle counters live in the caches (the login limit's in "shared"): the test starts and ends with none."""
    from django.core.cache import cache, caches

    cache.clear()
    caches["shared"].clear()
    yield
    cache.clear()
    caches["shared"].clear()


@pytest.fixture(autouse=True)
def _health_probes_again():
    """Each test's ``/health/`` probes anew (no answer shared from another test), as a process that just started."""
    import time

    from capital_allocation import health

    health.forget(started=time.monotonic())
