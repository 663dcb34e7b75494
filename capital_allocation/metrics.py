"""Prometheus metrics and the ``/metrics`` view.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``make serve``, the image) every process writes its samples to
that folder and ``/metrics`` adds them up: one scrape of any web process sees the whole machine.
``/metrics`` answers only a peer in ``METRICS_ALLOWED_IPS`` (loopback by default) or a request with
``Authorization: Bearer <METRICS_TOKEN>``: 401 for a wrong token, 403 for anyone else.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUEST_LATENCY = Histogram(
    "cae_http_request_duration_seconds",
    "Time to answer a request, by view (URL name) and method.",
    ["view", "method"],
    buckets=_LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "cae_http_requests_total", "Requests answered, by view, method and status.", ["view", "method", "status"]
)
REBALANCE_STAGE = Histogram(
    "cae_rebalance_stage_duration_seconds",
    "Engine time of a recorded rebalance, by stage (the run's explanation.timings_ms).",
    ["stage"],
    buckets=_STAGE_BUCKETS,
)
REBALANCE_RUNS = Counter(
    "cae_rebalance_runs_total", "Allocation runs recorded, by status and trigger.", ["status", "trigger"]
)
STEPS_APPLIED = Counter("cae_transition_steps_applied_total", "Transition steps applied.")
OUTBOX_ATTEMPTS = Counter(
    "cae_outbox_delivery_attempts_total", "Webhook delivery tries, by result (delivered, failed).", ["result"]
)
OUTBOX_DEAD = Counter("cae_outbox_dead_letters_total", "Webhook deliveries given up after WEBHOOK_MAX_ATTEMPTS.")
AUDIT_ROWS = Counter("cae_audit_rows_written_total", "Audit rows appended (committed).")
TASKS = Counter("cae_celery_tasks_total", "Celery tasks finished, by task and state.", ["task", "state"])
TASK_DURATION = Histogram(
    "cae_celery_task_duration_seconds", "Celery task run time, by task.", ["task"], buckets=_LATENCY_BUCKETS
)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _peer_allowed(address: str) -> bool:
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(peer in network for network in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if header:
        given = header.removeprefix("Bearer ").strip()
        if token and hmac.compare_digest(given.encode(), token.encode()):
            return _answer(request)
        if not _peer_allowed(request.META.get("REMOTE_ADDR", "")):
            return HttpResponse("a valid metrics token is needed\n", status=401, content_type="text/plain")
    if _peer_allowed(request.META.get("REMOTE_ADDR", "")):
        return _answer(request)
    return HttpResponse("metrics are not served to this address\n", status=403, content_type="text/plain")


def _answer(request) -> HttpResponse:
    """Prometheus's text format; the same samples as JSON to a client that asks for JSON only."""
    if request.accepts("application/json") and not request.accepts("text/plain"):
        samples = [
            {"name": sample.name, "labels": sample.labels, "value": sample.value}
            for family in _registry().collect()
            for sample in family.samples
        ]
        return JsonResponse({"metrics": samples})
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
