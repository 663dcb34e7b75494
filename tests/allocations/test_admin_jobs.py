"""The admin's job pages: executions an operator can read, webhook endpoints, the outbox's redeliver action."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from allocations.models import (
    AllocationPolicy,
    JobExecution,
    OutboxEvent,
    Portfolio,
    WebhookDelivery,
    WebhookEndpoint,
)
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.webhook_endpoints import webhook_endpoint_create
from allocations.tasks import apply_due_transition_steps
from tests.allocations.admin_support import logged_in, module_world

demo_world = module_world()


@pytest.fixture
def demo(demo_world, db):
    return Portfolio.objects.get(slug="demo")


def test_job_executions_are_listed_for_operators(demo):
    apply_due_transition_steps()
    JobExecution.objects.create(
        job="allocations.rebalance_portfolio",
        portfolio=Portfolio.objects.get(slug="demo-b"),
        status=JobExecution.Status.FAILED,
        started_at=dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 11, 27, 17, 0, 1, tzinfo=dt.UTC),
        error="no active strategies in demo-b",
    )
    page = logged_in("admin").get("/admin/allocations/jobexecution/")
    assert page.status_code == 200
    assert b"allocations.apply_due_transition_steps" in page.content and b"applied: 0" in page.content
    assert b"no active strategies in demo-b" in page.content
    risk = logged_in("risk").get("/admin/allocations/jobexecution/")
    assert risk.status_code == 200  # risk officers see the sweeps, not another portfolio's failures
    assert b"apply_due_transition_steps" in risk.content and b"demo-b" not in risk.content


def test_a_risk_officer_adds_an_endpoint_with_a_generated_secret(demo):
    response = logged_in("risk").post(
        "/admin/allocations/webhookendpoint/add/",
        {"portfolio": demo.pk, "url": "https://orders.example/hook", "description": "OMS", "is_active": "on"},
    )
    assert response.status_code == 200, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get(portfolio=demo)
    assert endpoint.url == "https://orders.example/hook" and len(endpoint.secret) == 64
    assert endpoint.secret.encode() in response.content  # shown once, on the answer to the creation
    assert "no-store" in response["Cache-Control"]
    for page in (f"/admin/allocations/webhookendpoint/{endpoint.pk}/change/", "/admin/allocations/webhookendpoint/"):
        shown = logged_in("risk").get(page)
        assert shown.status_code == 200 and endpoint.secret.encode() not in shown.content  # never again
    inner = logged_in("risk").post(
        "/admin/allocations/webhookendpoint/add/", {"portfolio": demo.pk, "url": "https://169.254.169.254/latest/"}
    )
    assert inner.status_code == 200 and b"link-local" in inner.content  # the refusal beside the field
    assert WebhookEndpoint.objects.filter(portfolio=demo).count() == 1
    other = Portfolio.objects.get(slug="demo-b")
    refused = logged_in("risk").post(
        "/admin/allocations/webhookendpoint/add/", {"portfolio": other.pk, "url": "https://x.example/"}
    )
    assert refused.status_code == 200  # the form offers granted portfolios only
    assert not WebhookEndpoint.objects.filter(portfolio=other).exists()


def test_the_outbox_page_redelivers_an_event(demo):
    AllocationPolicy.objects.filter(portfolio=demo).update(approval_threshold=2.0)
    webhook_endpoint_create(portfolio=demo, url="http://127.0.0.1:9/hook", actor=Actor.system("test"))
    run = allocation_run_create(
        portfolio=demo, actor=Actor.system("test"), request=RebalanceRequest(force_rebalance=True)
    ).run
    event = OutboxEvent.objects.get(run=run, kind="allocation.target_approved")
    WebhookDelivery.objects.filter(event=event).update(status=WebhookDelivery.Status.DEAD, attempts=10)
    client = logged_in("risk")
    listing = client.get("/admin/allocations/outboxevent/")
    assert listing.status_code == 200 and str(event.public_id).encode() in listing.content
    assert client.get(f"/admin/allocations/outboxevent/{event.pk}/change/").status_code == 200
    response = client.post(
        "/admin/allocations/outboxevent/", {"action": "redeliver", ACTION_CHECKBOX_NAME: [event.pk]}, follow=True
    )
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 0
