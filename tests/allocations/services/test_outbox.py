"""The outbox to order execution against a local HTTP server: signature, stable ids, backoff, dead letter."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from allocations.errors import DomainError
from allocations.models import DeliveryAttempt, OutboxEvent, TransitionStep, WebhookDelivery
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.schedules import transition_step_apply
from allocations.services.webhook_delivery import outbox_event_redeliver, retry_delay, webhook_deliveries_send_due
from allocations.services.webhook_endpoints import webhook_endpoint_create, webhook_endpoint_update
from tests.allocations.jobs_support import Receiver, book, broker_down, event_of, signature_ok

ACTOR = Actor.system("test")


@pytest.fixture
def receiver():
    with Receiver(status=500) as server:
        yield server


@pytest.fixture
def portfolio(db):
    return book("outbox", transition_period_days=3, max_daily_change=0.5)


def _rebalance(portfolio):
    return allocation_run_create(portfolio=portfolio, actor=ACTOR, request=RebalanceRequest()).run


def test_an_event_survives_a_failing_webhook_and_is_delivered_once_it_answers(portfolio, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    endpoint = webhook_endpoint_create(portfolio=portfolio, url=receiver.url, actor=ACTOR)
    run = _rebalance(portfolio)
    events = {e.kind: e for e in OutboxEvent.objects.filter(run=run)}
    assert set(events) == {"allocation.target_approved", "allocation.step_applied"}
    step_event = events["allocation.step_applied"]
    assert step_event.payload["step"] == 1 and step_event.payload["steps_total"] == 3

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert webhook_deliveries_send_due() == {"delivered": 0, "retrying": 2, "dead": 0, "skipped": 0}
        assert webhook_deliveries_send_due()["retrying"] == 0  # backing off: nothing is due yet
        assert len(receiver.requests) == 2
        clock.shift(dt.timedelta(seconds=31))
        assert webhook_deliveries_send_due()["retrying"] == 2  # second try, still failing; now 60 s
        clock.shift(dt.timedelta(seconds=31))
        assert webhook_deliveries_send_due()["retrying"] == 0
        receiver.status = 204
        clock.shift(dt.timedelta(seconds=30))
        assert webhook_deliveries_send_due() == {"delivered": 2, "retrying": 0, "dead": 0, "skipped": 0}
        assert webhook_deliveries_send_due()["delivered"] == 0  # delivered once
    assert len(receiver.requests) == 6
    for request in receiver.requests:
        assert signature_ok(endpoint.secret, request)
    # every try of one event carries the same id and the same bytes, so the receiver can drop duplicates
    of_step = [r for r in receiver.requests if event_of(r)["type"] == "allocation.step_applied"]
    assert {r["headers"]["x-cae-event-id"] for r in of_step} == {str(step_event.public_id)}
    assert len({r["body"] for r in of_step}) == 1
    body = event_of(of_step[0])
    assert body["id"] == str(step_event.public_id) and body["portfolio"] == "outbox"
    assert body["data"]["allocation_id"] == str(run.public_id)
    delivery = WebhookDelivery.objects.get(event=step_event)
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.attempts == 3
    attempts = list(delivery.attempt_log.values_list("number", "status_code", "succeeded"))
    assert attempts == [(1, 500, False), (2, 500, False), (3, 204, True)]


def test_a_tampered_body_fails_the_signature(portfolio, receiver):
    endpoint = webhook_endpoint_create(portfolio=portfolio, url=receiver.url, actor=ACTOR)
    receiver.status = 200
    _rebalance(portfolio)
    webhook_deliveries_send_due()
    request = dict(receiver.requests[0])
    assert signature_ok(endpoint.secret, request)
    assert not signature_ok(endpoint.secret, {**request, "body": request["body"].replace(b"outbox", b"othbox")})
    assert not signature_ok("another-secret", request)


def test_backoff_doubles_up_to_its_cap(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 200
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 200, 200]


def test_the_last_allowed_try_makes_a_dead_letter_and_a_risk_officer_can_redeliver(portfolio, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1
    webhook_endpoint_create(portfolio=portfolio, url=receiver.url, actor=ACTOR)
    run = _rebalance(portfolio)
    event = OutboxEvent.objects.get(run=run, kind="allocation.target_approved")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        webhook_deliveries_send_due(event_id=event.pk)
        clock.shift(dt.timedelta(seconds=2))
        assert webhook_deliveries_send_due(event_id=event.pk)["dead"] == 1
        clock.shift(dt.timedelta(hours=1))
        assert webhook_deliveries_send_due(event_id=event.pk)["dead"] == 0  # the dead letter is not retried
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.DEAD and "HTTP 500" in delivery.last_error

    receiver.status = 200
    assert outbox_event_redeliver(event=event, actor=ACTOR) == 1
    assert webhook_deliveries_send_due(event_id=event.pk)["delivered"] == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert list(delivery.attempt_log.values_list("number", flat=True)) == [1, 2, 3]


def test_an_unreachable_endpoint_is_recorded_and_retried(portfolio, receiver):
    url = receiver.url
    receiver.server.server_close()  # nothing listens there any more
    webhook_endpoint_create(portfolio=portfolio, url=url, actor=ACTOR)
    _rebalance(portfolio)
    assert webhook_deliveries_send_due()["retrying"] == 2
    attempt = DeliveryAttempt.objects.first()
    assert attempt.status_code is None and attempt.error


def test_each_step_writes_one_event_to_each_active_endpoint(portfolio, receiver):
    first = webhook_endpoint_create(portfolio=portfolio, url=receiver.url, actor=ACTOR)
    second = webhook_endpoint_create(portfolio=portfolio, url=receiver.url + "/b", actor=ACTOR)
    webhook_endpoint_update(endpoint=second, actor=ACTOR, is_active=False)
    run = _rebalance(portfolio)
    step2 = TransitionStep.objects.get(schedule__run=run, index=2)
    TransitionStep.objects.filter(pk=step2.pk).update(due_date=dt.date(2000, 1, 3))
    assert transition_step_apply(step_id=step2.pk, actor=ACTOR)
    assert not transition_step_apply(step_id=step2.pk, actor=ACTOR)
    event = OutboxEvent.objects.get(step=step2)
    assert list(event.deliveries.values_list("endpoint_id", flat=True)) == [first.pk]


def test_an_endpoint_needs_an_http_url_once_per_portfolio(portfolio):
    webhook_endpoint_create(portfolio=portfolio, url="https://orders.example/hook", actor=ACTOR)
    with pytest.raises(DomainError, match="already"):
        webhook_endpoint_create(portfolio=portfolio, url="https://orders.example/hook", actor=ACTOR)
    with pytest.raises(DomainError, match="http"):
        webhook_endpoint_create(portfolio=portfolio, url="ftp://orders.example/hook", actor=ACTOR)


@pytest.fixture
def no_broker(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    with broker_down():
        yield


def test_a_broker_that_is_down_does_not_undo_the_rebalance(
    portfolio, django_capture_on_commit_callbacks, no_broker, caplog
):
    """Redis down: the write commits, the failed kick is logged, the sweep delivers later."""
    webhook_endpoint_create(portfolio=portfolio, url="http://127.0.0.1:9/hook", actor=ACTOR)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = _rebalance(portfolio)
    assert callbacks  # the delivery was kicked after commit
    assert "could not enqueue allocations.deliver_webhooks" in caplog.text
    assert WebhookDelivery.objects.filter(event__run=run, status=WebhookDelivery.Status.PENDING).count() == 2


def test_creating_repointing_deactivating_and_rotating_an_endpoint_are_audited(portfolio):
    from allocations.models import AuditEntry
    from allocations.services.webhook_endpoints import webhook_endpoint_rotate_secret

    endpoint = webhook_endpoint_create(portfolio=portfolio, url="https://orders.example/a", actor=ACTOR)
    first_secret = endpoint.secret
    webhook_endpoint_update(endpoint=endpoint, actor=ACTOR, url="https://orders.example/b")
    webhook_endpoint_update(endpoint=endpoint, actor=ACTOR, is_active=False)
    webhook_endpoint_update(endpoint=endpoint, actor=ACTOR, is_active=False)  # no change: no row
    rotated = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=ACTOR)
    rows = list(AuditEntry.objects.filter(portfolio=portfolio, kind="webhook_change").order_by("seq"))
    assert [r.payload["action"] for r in rows] == ["create", "repoint", "deactivate", "rotate_secret"]
    assert all(r.payload["endpoint"] == endpoint.pk and r.actor_label == ACTOR.label for r in rows)
    assert rows[1].payload["changes"]["url"] == {"old": "https://orders.example/a", "new": "https://orders.example/b"}
    assert rows[2].payload["changes"]["is_active"] == {"old": True, "new": False}
    for row in rows:  # the trail never holds a secret
        assert first_secret not in str(row.payload) + row.reason and rotated.secret not in str(row.payload)
    assert rotated.secret != first_secret


def test_credentials_in_a_url_are_refused(portfolio):
    with pytest.raises(DomainError, match="credentials") as refused:
        webhook_endpoint_create(portfolio=portfolio, url="https://oms:hunter2@orders.example/hook", actor=ACTOR)
    assert refused.value.field == "url"
