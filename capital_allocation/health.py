"""``/health/``: the database and the broker answer, or the operator sees which one does not."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


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


@require_GET
def health(request):
    """200 with ``status: ok`` when the database and the broker answer; 503 naming what failed."""
    checks = {"database": _database_status(), "broker": _broker_status()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "database_vendor": connection.vendor, **checks},
        status=200 if healthy else 503,
    )
