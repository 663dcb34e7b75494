"""``/health/``: the database and the broker answer, the jobs run on time, or the operator sees which part does not.

A database or broker that does not answer makes it 503 (the service cannot work). Beat and the
daily rebalance are reported with the age of their last sign of life; one that is late (or has
never run) is named in ``late`` and the status is ``degraded``, still 200: the web process itself
can serve, and a load balancer should keep sending it requests.
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

DAILY_REBALANCE_JOB = "allocations.rebalance_all_portfolios"


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:  # any failure is what the operator needs to see
        return f"error: {exc.__class__.__name__}: {exc}"


def _broker_status() -> str:
    from capital_allocation.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_BROKER_TIMEOUT)
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"


def _age(moment, late_after: int) -> dict:
    if moment is None:
        return {"last": None, "age_seconds": None, "status": "never"}
    age = max((timezone.now() - moment).total_seconds(), 0.0)
    return {"last": moment.isoformat(), "age_seconds": round(age, 1), "status": "late" if age > late_after else "ok"}


def _jobs_status() -> dict:
    from allocations.selectors.jobs import beat_last_tick, job_last_finished

    try:
        last_rebalance = job_last_finished(job=DAILY_REBALANCE_JOB)
        return {
            "beat": _age(beat_last_tick(), settings.HEALTH_BEAT_LATE_SECONDS),
            "daily_rebalance": _age(
                last_rebalance.finished_at if last_rebalance else None, settings.HEALTH_REBALANCE_LATE_SECONDS
            ),
        }
    except Exception as exc:  # the database check names the cause
        unknown = {"last": None, "age_seconds": None, "status": f"unknown: {exc.__class__.__name__}"}
        return {"beat": unknown, "daily_rebalance": unknown}


@require_GET
def health(request):
    """200 with ``status: ok`` when everything answers on time, ``degraded`` naming the late jobs; 503 naming a
    database or broker that does not answer."""
    checks = {"database": _database_status(), "broker": _broker_status()}
    jobs = _jobs_status()
    down = [name for name, value in checks.items() if value != "ok"]
    late = [name for name, value in jobs.items() if value["status"] != "ok"]
    status = "error" if down else "degraded" if late else "ok"
    return JsonResponse(
        {"status": status, "database_vendor": connection.vendor, **checks, **jobs, "down": down, "late": late},
        status=503 if down else 200,
    )
