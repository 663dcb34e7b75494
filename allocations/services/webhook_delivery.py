"""Delivering the outbox's events to the webhook endpoints: claimed, signed, POSTed, each try recorded.

At least once: the body carries the event's stable ``id`` (also ``X-CAE-Event-Id``) so the receiver
drops duplicates; ``X-CAE-Signature: sha256=<hex>`` is HMAC-SHA256 of the body under the endpoint's
secret. A failed try waits ``WEBHOOK_RETRY_BASE_SECONDS x 2^(try - 1)`` (at most
``WEBHOOK_RETRY_MAX_SECONDS``); after ``WEBHOOK_MAX_ATTEMPTS`` tries it is a dead letter, until a
risk officer redelivers it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from allocations.errors import DomainError
from allocations.models import DeliveryAttempt, OutboxEvent, WebhookDelivery
from allocations.selectors.jobs import deliveries_due, endpoint_ids_active

from . import webhook_http
from .actors import Actor
from .enqueue import enqueue_on_commit
from .outbox import DELIVER_TASK, event_body
from .webhook_targets import webhook_target_check

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CAE-Signature"
EVENT_ID_HEADER = "X-CAE-Event-Id"
TIMESTAMP_HEADER = "X-CAE-Timestamp"
MAX_ERROR = 2000


def webhook_signature(secret: str, body: bytes, timestamp: int) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``.

    The timestamp (Unix seconds of the try, also in ``X-CAE-Timestamp``) is signed with the body so
    a receiver can refuse a replayed request: one whose timestamp is older than a few minutes."""
    message = str(int(timestamp)).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def retry_delay(attempt: int) -> timedelta:
    """The wait after failed try number ``attempt`` (1-based): base x 2^(attempt - 1), capped."""
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_SECONDS))


def delivery_lease() -> timedelta:
    """How long a claimed delivery stays claimed: longer than one exchange's deadline, so a POST still
    open is never sent a second time by another sweep; a worker killed mid-POST leaves it to expire."""
    return timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Pending and due -> leased, by a conditional update (two workers holding the same id POST it once)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + delivery_lease(), attempts=F("attempts") + 1)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("event__portfolio", "endpoint").get(pk=delivery_id)


def _exchange_of(delivery: WebhookDelivery) -> Callable[[], webhook_http.Exchange]:
    """The try of a claimed delivery, to run without the database: check the target (it may resolve
    elsewhere since it was saved), sign ``timestamp.body`` and POST under one deadline."""
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.is_active:
        return lambda: webhook_http.Exchange(None, "endpoint is deactivated")
    url, secret, body = endpoint.url, endpoint.secret, event_body(event)
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "capital-allocation-engine/webhooks",
        EVENT_ID_HEADER: str(event.public_id),
        "X-CAE-Event-Type": event.kind,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_signature(secret, body, timestamp),
    }

    def exchange() -> webhook_http.Exchange:
        try:
            target = webhook_target_check(url)
        except DomainError as exc:
            return webhook_http.Exchange(None, f"target refused: {exc.message}")
        return webhook_http.post(
            target,
            body,
            headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_bytes=settings.WEBHOOK_MAX_RESPONSE_BYTES,
        )

    return exchange


def _timed(exchange: Callable[[], webhook_http.Exchange]) -> tuple[webhook_http.Exchange, float]:
    clock = time.perf_counter()
    try:
        result = exchange()
    except Exception as exc:  # noqa: BLE001 - a failed try is an attempt row, never a stopped sweep
        result = webhook_http.Exchange(None, f"{exc.__class__.__name__}: {exc}")
    return result, time.perf_counter() - clock


def webhook_delivery_send(*, delivery_id: int) -> str:
    """Try one due delivery once: ``delivered``, ``retrying``, ``dead`` or ``skipped`` (not due, or claimed)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    started = timezone.now()
    result, duration = _timed(_exchange_of(delivery))
    return _record_attempt(delivery, started=started, duration=duration, code=result.status, error=result.error)


def _record_attempt(
    delivery: WebhookDelivery, *, started: datetime, duration: float, code: int | None, error: str
) -> str:
    succeeded = code is not None and 200 <= code < 300
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=DeliveryAttempt.objects.filter(delivery=delivery).count() + 1,
            started_at=started,
            duration_ms=duration * 1000.0,
            status_code=code,
            succeeded=succeeded,
            error=error[:MAX_ERROR],
        )
        if succeeded:
            delivery.status, delivery.delivered_at, delivery.last_error = WebhookDelivery.Status.DELIVERED, started, ""
            outcome = "delivered"
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.last_error = WebhookDelivery.Status.DEAD, error[:MAX_ERROR]
            outcome = "dead"
        else:
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
            delivery.last_error = error[:MAX_ERROR]
            outcome = "retrying"
        delivery.save(update_fields=["status", "delivered_at", "last_error", "next_attempt_at"])
    if outcome != "delivered":
        logger.warning("webhook delivery %s try %d: %s (%s)", delivery.pk, delivery.attempts, outcome, error)
    return outcome


def webhook_deliveries_send_due(*, event_id: int | None = None, limit: int = 200) -> dict[str, int]:
    """Try every due delivery (of one event, or all), oldest first; how many ended each way.

    Each endpoint is a lane: its deliveries go one after another, and up to ``WEBHOOK_SENDERS``
    lanes send at the same time, so a slow receiver holds its own lane (at most one deadline per
    try) and never the others'. A try that runs out of time leaves the rest of its lane for the
    next sweep (``skipped``) instead of spending a deadline on each. The database is used from
    this thread only; the threads hold nothing but the network exchange.
    """
    counts = {"delivered": 0, "retrying": 0, "dead": 0, "skipped": 0}
    lanes: dict[int, deque[int]] = {}
    for delivery_id, endpoint_id in deliveries_due(now=timezone.now(), event_id=event_id, limit=limit):
        lanes.setdefault(endpoint_id, deque()).append(delivery_id)
    if not lanes:
        return counts
    waiting = deque(lanes)
    senders = max(1, min(settings.WEBHOOK_SENDERS, len(lanes)))
    with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="webhook") as pool:
        running: dict[Future, tuple[int, WebhookDelivery, datetime]] = {}

        def start(endpoint_id: int) -> bool:
            """Claim and submit the lane's next delivery; False when the lane has none left."""
            lane = lanes[endpoint_id]
            while lane:
                delivery = _claim(lane.popleft())
                if delivery is None:
                    counts["skipped"] += 1
                    continue
                running[pool.submit(_timed, _exchange_of(delivery))] = (endpoint_id, delivery, timezone.now())
                return True
            return False

        def fill() -> None:
            while waiting and len(running) < senders:
                start(waiting.popleft())

        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                endpoint_id, delivery, started = running.pop(future)
                result, duration = future.result()
                counts[
                    _record_attempt(
                        delivery, started=started, duration=duration, code=result.status, error=result.error
                    )
                ] += 1
                if result.timed_out:
                    counts["skipped"] += len(lanes[endpoint_id])
                    lanes[endpoint_id].clear()
                if not start(endpoint_id):
                    fill()
    return counts


def outbox_event_redeliver(*, event: OutboxEvent, actor: Actor) -> int:
    """Send ``event`` again to every active endpoint of its portfolio (delivered and dead ones too).

    The receiver sees the same event id and drops it if it already has it. Returns how many
    deliveries were queued.
    """
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().get(pk=event.pk)
        now = timezone.now()
        active = endpoint_ids_active(portfolio_id=event.portfolio_id)
        existing = set(event.deliveries.values_list("endpoint_id", flat=True))
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(event=event, endpoint_id=pk, next_attempt_at=now) for pk in active if pk not in existing]
        )
        queued = event.deliveries.filter(endpoint_id__in=active).update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now, delivered_at=None
        )
        logger.info("outbox event %s redelivered by %s to %d endpoint(s)", event.public_id, actor.label, queued)
        if queued:
            enqueue_on_commit(DELIVER_TASK, event.pk)
        return queued
