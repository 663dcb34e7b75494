"""Webhook endpoints and the outbox over the API: who may do what, the secret shown once, redeliver."""

from __future__ import annotations

import pytest
from django.db import transaction

from allocations.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from allocations.services.actors import Actor
from allocations.services.webhook_delivery import webhook_deliveries_send_due
from allocations.services.webhook_endpoints import webhook_endpoint_create
from tests.allocations.jobs_support import Receiver, broker_down
from tests.problems import problem_fields

from .conftest import ROLES, USERNAME

P = "/api/v1/portfolios/{slug}"
VIEW, MANAGE, APPROVE = "view", "manage", "approve"
GRANTED = {
    "viewer": {VIEW},
    "portfolio_manager": {VIEW},
    "risk_officer": {VIEW, MANAGE, APPROVE},
    "integration": {VIEW},
    "superuser": {VIEW, MANAGE, APPROVE},
}
ENDPOINTS = [
    ("get", P + "/webhooks/", None, VIEW, 200),
    ("post", P + "/webhooks/", {"url": "https://orders.example/new"}, MANAGE, 201),
    ("get", P + "/webhooks/{endpoint}/", None, VIEW, 200),
    ("patch", P + "/webhooks/{endpoint}/", {"is_active": False}, MANAGE, 200),
    ("post", P + "/webhooks/{endpoint}/rotate-secret/", None, MANAGE, 200),
    ("get", P + "/outbox/", None, VIEW, 200),
    ("get", P + "/outbox/{event}/", None, VIEW, 200),
    ("post", P + "/outbox/{event}/redeliver/", None, APPROVE, 200),
]


@pytest.fixture
def outbox(runs, demo):
    """An endpoint of demo and the events of the runs fixture's applied run."""
    endpoint = webhook_endpoint_create(portfolio=demo, url="https://orders.example/hook", actor=Actor.system("test"))
    event = OutboxEvent.objects.filter(portfolio=demo).first()
    return {"endpoint": endpoint, "event": event}


def _url(path, slug, outbox):
    return path.format(slug=slug, endpoint=outbox["endpoint"].pk, event=outbox["event"].public_id)


def _call(client, method, path, body):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


@pytest.mark.parametrize(
    ("method", "path", "body", "perm", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS]
)
def test_role_matrix(client_as, outbox, method, path, body, perm, allowed):
    actual, expected = {}, {}
    for role in ROLES:
        with transaction.atomic():
            actual[role] = _call(client_as(USERNAME.get(role)), method, _url(path, "demo", outbox), body).status_code
            transaction.set_rollback(True)
        expected[role] = 401 if role == "anonymous" else allowed if perm in GRANTED[role] else 403
    assert actual == expected


def test_another_portfolio_is_404_for_every_endpoint(client_as, outbox, demo_b):
    for method, path, body, *_ in ENDPOINTS:
        for username in ("viewer", "pm", "risk", "integration"):
            with transaction.atomic():
                response = _call(client_as(username), method, _url(path, "demo-b", outbox), body)
                transaction.set_rollback(True)
            assert response.status_code == 404, (username, method, path)


def test_the_secret_is_shown_on_creation_only(client_as, demo):
    created = client_as("risk").post(
        P.format(slug="demo") + "/webhooks/", {"url": "https://o.example/a"}, format="json"
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert len(secret) == 64 and WebhookEndpoint.objects.get(pk=created.json()["id"]).secret == secret
    listed = client_as("risk").get(P.format(slug="demo") + "/webhooks/").json()["results"]
    assert listed and all("secret" not in row for row in listed)
    bad = client_as("risk").post(P.format(slug="demo") + "/webhooks/", {"url": "ftp://o.example/a"}, format="json")
    assert bad.status_code == 400 and "url" in problem_fields(bad)


def test_the_outbox_lists_events_deliveries_and_attempts_and_a_risk_officer_redelivers(client_as, runs, demo):
    with Receiver(status=503) as receiver:
        webhook_endpoint_create(portfolio=demo, url=receiver.url, actor=Actor.system("test"))
        pending = runs["pending"]  # a second risk officer approves it: its target and step 1 go out
        approved = client_as("risk").post(
            P.format(slug="demo") + f"/runs/{pending.public_id}/approve/", {"reason": "fine"}, format="json"
        )
        assert approved.status_code == 200, approved.json()
        webhook_deliveries_send_due()
        events = client_as("viewer").get(P.format(slug="demo") + "/outbox/?delivery_status=pending").json()["results"]
        assert {e["type"] for e in events} == {"allocation.target_approved", "allocation.step_applied"}
        event_id = next(e["id"] for e in events if e["type"] == "allocation.step_applied")
        detail = client_as("viewer").get(P.format(slug="demo") + f"/outbox/{event_id}/").json()
        assert detail["data"]["allocation_id"] == str(pending.public_id)
        [delivery] = detail["deliveries"]
        assert delivery["status"] == "pending" and delivery["attempt_log"][0]["succeeded"] is False
        [delivery] = client_as("risk").get(P.format(slug="demo") + f"/outbox/{event_id}/").json()["deliveries"]
        assert delivery["attempt_log"][0]["status_code"] == 503

        receiver.status = 200
        assert client_as("pm").post(P.format(slug="demo") + f"/outbox/{event_id}/redeliver/").status_code == 403
        again = client_as("risk").post(P.format(slug="demo") + f"/outbox/{event_id}/redeliver/")
        assert again.status_code == 200 and again.json()["deliveries"][0]["attempts"] == 0
        webhook_deliveries_send_due(event_id=OutboxEvent.objects.get(public_id=event_id).pk)
    assert WebhookDelivery.objects.get(event__public_id=event_id).status == WebhookDelivery.Status.DELIVERED
    assert client_as("viewer").get(P.format(slug="demo") + "/outbox/not-a-uuid/").status_code == 404


def test_with_the_broker_down_the_api_answers_reads_and_rebalances(
    client_as, demo, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from tests.allocations.demo_support import set_policy

    set_policy(demo, approval_threshold=2.0)
    webhook_endpoint_create(portfolio=demo, url="https://orders.example/hook", actor=Actor.system("test"))
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        rebalance = client_as("pm").post(P.format(slug="demo") + "/allocation/rebalance", {}, format="json")
        current = client_as("viewer").get(P.format(slug="demo") + "/allocation/current")
        health = client_as(None).get("/health/")
    assert rebalance.status_code == 201 and rebalance.json()["status"] == "applied"
    assert current.status_code == 200
    assert health.status_code == 503 and health.json()["down"] == ["broker"]
    assert "could not enqueue" in caplog.text  # the delivery waits in the outbox for beat's sweep
    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count() == 2


def test_an_equity_cut_that_scales_the_funds_is_an_event_without_a_run(client_as, demo):
    base = P.format(slug="demo")
    change = client_as("risk").post(
        base + "/equity/", {"total_equity": "8000000.00", "reason": "redemption"}, format="json"
    )
    approved = client_as("risk2").post(
        base + f"/equity/{change.json()['id']}/approve/", {"reason": "wired"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    events = client_as("viewer").get(base + "/outbox/?type=portfolio.funds_scaled").json()["results"]
    assert len(events) == 1 and events[0]["allocation_id"] is None
    detail = client_as("viewer").get(base + f"/outbox/{events[0]['id']}/").json()
    assert detail["data"]["equity"] == "8000000.00" and detail["type"] == "portfolio.funds_scaled"


def test_an_idempotent_replay_of_the_creation_holds_no_secret(client_as, demo):
    from allocations.models import IdempotencyRecord

    path, body = P.format(slug="demo") + "/webhooks/", {"url": "https://o.example/once"}
    first = client_as("risk").post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="create-once")
    again = client_as("risk").post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="create-once")
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    secret = first.json()["secret"]
    assert len(secret) == 64 and again.json()["secret"] is None and again.json()["id"] == first.json()["id"]
    stored = IdempotencyRecord.objects.get(key="create-once").response_body
    assert secret not in str(stored)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "http://127.0.0.1:5432/",
        "https://[::1]/",
        "https://0.0.0.0/",
        "https://oms:hunter2@o.example/hook",
    ],
)
def test_an_inner_or_credentialed_target_is_a_400_naming_url(client_as, demo, settings, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    created = client_as("risk").post(P.format(slug="demo") + "/webhooks/", {"url": url}, format="json")
    assert created.status_code == 400 and "url" in problem_fields(created)
    endpoint = webhook_endpoint_create(portfolio=demo, url="https://o.example/ok", actor=Actor.system("test"))
    moved = client_as("risk").patch(P.format(slug="demo") + f"/webhooks/{endpoint.pk}/", {"url": url}, format="json")
    assert moved.status_code == 400 and "url" in problem_fields(moved)


def test_delivery_errors_and_target_statuses_are_for_risk_officers_only(client_as, runs, demo):
    with Receiver(status=503) as receiver:
        webhook_endpoint_create(portfolio=demo, url=receiver.url, actor=Actor.system("test"))
        client_as("risk").post(
            P.format(slug="demo") + f"/runs/{runs['pending'].public_id}/approve/", {"reason": "fine"}, format="json"
        )
        webhook_deliveries_send_due()
    listed = {}
    for username in ("viewer", "pm", "integration", "risk"):
        events = client_as(username).get(P.format(slug="demo") + "/outbox/?delivery_status=pending").json()["results"]
        detail = client_as(username).get(P.format(slug="demo") + f"/outbox/{events[0]['id']}/").json()
        [delivery] = detail["deliveries"]
        [attempt] = delivery["attempt_log"]
        listed[username] = (events[0]["deliveries"][0]["last_error"], delivery["url"], attempt["status_code"])
    for username in ("viewer", "pm", "integration"):
        assert listed[username] == (None, None, None), username
    last_error, url, status_code = listed["risk"]
    assert "503" in last_error and url == receiver.url and status_code == 503
