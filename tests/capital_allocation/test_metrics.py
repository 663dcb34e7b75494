"""``/metrics``: Prometheus text for allowed addresses or the token only, and the figures the hooks record."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from allocations.models import AuditEntry
from capital_allocation.env import env_networks
from tests.allocations.api.conftest import demo, demo_world, users  # noqa: F401 - fixtures

TOKEN = "m" * 20 + "etrics-token-for-the-test-only"


def sample(body: str, name: str, **labels) -> float:
    """The value of one sample in the exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_loopback_may_scrape_and_sees_request_latency_by_view(client, db):
    client.get("/health/")
    body = scrape(client)
    assert sample(body, "cae_http_request_duration_seconds_count", view="health", method="GET") >= 1
    assert "cae_rebalance_stage_duration_seconds" in body
    assert "cae_audit_rows_written_total" in body


def test_other_addresses_are_refused(client, db):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_token_opens_it_from_anywhere_and_a_wrong_one_is_401(client, db):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope").status_code == 401


@override_settings(METRICS_ALLOWED_NETWORKS=env_networks("X_UNSET_FOR_TEST", ["10.1.0.0/16"]))
def test_allowed_networks_match_by_prefix(client, db):
    assert client.get("/metrics", REMOTE_ADDR="10.1.200.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_a_rebalance_is_counted_by_stage_runs_steps_and_audit_rows(demo, users, django_capture_on_commit_callbacks):  # noqa: F811
    client = APIClient()
    before = scrape(client)
    audit_before = AuditEntry.objects.count()
    api = APIClient()
    api.force_authenticate(user=users["pm"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/portfolios/demo/allocation/rebalance",
            {"allocation_method": "risk_parity", "force_rebalance": True},
            format="json",
        )
    assert response.status_code in (200, 201), response.content
    status = response.json()["status"]
    after = scrape(client)
    runs = sample(after, "cae_rebalance_runs_total", status=status, trigger="api")
    assert runs == sample(before, "cae_rebalance_runs_total", status=status, trigger="api") + 1
    stages = {m for m in re.findall(r'cae_rebalance_stage_duration_seconds_count\{stage="([^"]+)"\}', after)}
    assert {"estimate", "base"} <= stages or len(stages) >= 3, stages
    written = AuditEntry.objects.count() - audit_before
    assert written > 0
    assert sample(after, "cae_audit_rows_written_total") - sample(before, "cae_audit_rows_written_total") == written
    if status == "applied":
        assert sample(after, "cae_transition_steps_applied_total") > sample(
            before, "cae_transition_steps_applied_total"
        )
    latency = sample(after, "cae_http_request_duration_seconds_count", view="api:allocation-rebalance", method="POST")
    assert latency >= 1


@pytest.mark.parametrize("path", ["/metrics"])
def test_metrics_needs_no_login_but_only_get(client, db, path):
    assert client.post(path).status_code == 405


def test_a_json_client_gets_the_same_samples_as_json(client, db):
    client.get("/health/")
    text = client.get("/metrics").content.decode()
    response = client.get("/metrics", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    names = {sample["name"] for sample in response.json()["metrics"]}
    assert names and all(name in text for name in names)
    assert "cae_http_request_duration_seconds_count" in names or any(n.startswith("cae_") for n in names)
