"""``/health/``: the database and the broker answer, a worker is alive, the jobs run on time, or the operator
sees which part does not.

Bounded: the probes run at most once per ``HEALTH_CACHE_SECONDS`` per process, one caller at a time, the
others sharing its result (``_shared_report``). Anonymous callers get the status words; staff (a session)
or a caller with the metrics token get the details (the messages name hosts), as docs/runbook.md reads them.
"""

from __future__ import annotations

import hmac
import threading
import time

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from allocations import db

DAILY_REBALANCE_JOB = "allocations.rebalance_all_portfolios"
PROCESS_STARTED = time.monotonic()

_probe_lock = threading.Lock()
_last_report: dict | None = None
_last_report_at = float("-inf")


def _database_status() -> str:
    try:
        db.ping()
        return "ok"
    except Exception as exc:  # any failure is what the operator needs to see
        return f"error: {exc.__class__.__name__}: {exc}"


def _broker_status() -> str:
    from capital_allocation.celery import app

    timeout = settings.HEALTH_BROKER_TIMEOUT
    try:
        # one attempt, no sleep before giving up: kombu's default retry waits seconds between tries
        with app.connection_for_write(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=timeout)
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"


def _age(moment, late_after: int) -> dict:
    if moment is None:
        return {"last": None, "age_seconds": None, "status": "never"}
    age = max((timezone.now() - moment).total_seconds(), 0.0)
    return {"last": moment.isoformat(), "age_seconds": round(age, 1), "status": "late" if age > late_after else "ok"}


def _jobs_status() -> dict:
    from allocations.selectors.jobs import beat_last_tick, job_last_finished, rebalances_overdue, worker_last_heartbeat

    try:
        last_sweep = job_last_finished(job=DAILY_REBALANCE_JOB)
        overdue = rebalances_overdue(now=timezone.now(), late_after=settings.HEALTH_REBALANCE_LATE_SECONDS)
        rebalance = _age(last_sweep.finished_at if last_sweep else None, late_after=10**12)  # the sweep's age
        rebalance.update(
            status="late" if overdue else "ok",
            overdue=len(overdue),
            overdue_portfolios=[item.portfolio_id for item in overdue][:20],
        )
        worker = _age(worker_last_heartbeat(), settings.HEALTH_WORKER_DOWN_SECONDS)
        return {
            "beat": _age(beat_last_tick(), settings.HEALTH_BEAT_LATE_SECONDS),
            "daily_rebalance": rebalance,
            "worker": {**worker, "status": "ok" if worker["status"] == "ok" else "down"},
        }
    except Exception as exc:  # the database check names the cause
        unknown = {"last": None, "age_seconds": None, "status": f"unknown: {exc.__class__.__name__}"}
        return {"beat": unknown, "daily_rebalance": unknown, "worker": unknown}


def _report() -> dict:
    """A database or broker that does not answer makes it 503 (the web process cannot work): ``down``
    names it. A worker without a heartbeat for ``HEALTH_WORKER_DOWN_SECONDS`` is in ``down`` too and the
    status is ``error``, but the answer stays 200: a load balancer taking every web process out because
    the worker died would turn a jobs outage into a full one. Beat and the daily rebalance are reported
    with the age of their last sign of life; a late one is in ``late`` and the status is ``degraded``
    (200). ``daily_rebalance`` is late when a rebalance due ``HEALTH_REBALANCE_LATE_SECONDS`` ago has
    still not run, whatever the sweep recorded. In the first ``HEALTH_STARTING_SECONDS`` of the process
    a late job or worker says ``starting`` (nothing has had the time to run yet)."""
    checks = {"database": _database_status(), "broker": _broker_status()}
    jobs = _jobs_status()
    starting = time.monotonic() - PROCESS_STARTED < settings.HEALTH_STARTING_SECONDS
    if starting:
        for value in jobs.values():
            if value["status"] != "ok":
                value["status"] = "starting"
    down = [name for name, value in checks.items() if value != "ok"]
    down += ["worker"] if jobs["worker"]["status"] == "down" else []
    late = [name for name in ("beat", "daily_rebalance") if jobs[name]["status"] not in ("ok", "starting")]
    waiting = [name for name, value in jobs.items() if value["status"] == "starting"]
    status = "error" if down else "degraded" if late else "starting" if waiting else "ok"
    return {
        "status": status,
        "http_status": 503 if any(name in down for name in checks) else 200,
        "database_vendor": db.vendor(),
        **checks,
        **jobs,
        "down": down,
        "late": late,
    }


def _shared_report() -> dict:
    """The report of this process's last probe when it is recent, else a new probe (one at a time)."""
    global _last_report, _last_report_at
    if _last_report is not None and time.monotonic() - _last_report_at < settings.HEALTH_CACHE_SECONDS:
        return _last_report
    if not _probe_lock.acquire(blocking=_last_report is None):
        return _last_report  # another thread probes right now: its previous answer meanwhile
    try:
        if _last_report is None or time.monotonic() - _last_report_at >= settings.HEALTH_CACHE_SECONDS:
            _last_report, _last_report_at = _report(), time.monotonic()
        return _last_report
    finally:
        _probe_lock.release()


def forget(*, started: float | None = None) -> None:
    """Drop the shared report (the next call probes again); ``started`` (monotonic) moves the process's start."""
    global _last_report, _last_report_at, PROCESS_STARTED
    _last_report, _last_report_at = None, float("-inf")
    if started is not None:
        PROCESS_STARTED = started


def _sees_details(request) -> bool:
    if getattr(request, "user", None) is not None and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token and given and hmac.compare_digest(given.encode(), token.encode()))


def _status_words(report: dict) -> dict:
    """What anyone may see: which part is ok, late or down, no host, message or age."""
    words = {"status": report["status"], "down": report["down"], "late": report["late"]}
    for name in ("database", "broker"):
        words[name] = "ok" if report[name] == "ok" else "error"
    for name in ("beat", "daily_rebalance", "worker"):
        words[name] = {"status": report[name]["status"]}
    return words


@require_GET
def health(request):
    """200 ``ok``, ``starting``, ``degraded`` (late jobs) or ``error`` (a worker down); 503 naming a database or
    broker that does not answer."""
    report = _shared_report()
    body = {k: v for k, v in report.items() if k != "http_status"}
    return JsonResponse(body if _sees_details(request) else _status_words(body), status=report["http_status"])
