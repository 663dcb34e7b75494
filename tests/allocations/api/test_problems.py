"""Every error of the API is one shape, RFC 9457 problem details, whatever raised it."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from tests.problems import problem_fields, problem_of

BASE = "/api/v1/portfolios/demo"
REBALANCE = BASE + "/allocation/rebalance"


def test_400_lists_each_field_by_its_path_in_the_request(client_as, demo):
    body = {"total_equity": "x", "sector_signals": [{"sector": "energy", "action": "HOLD?"}]}
    response = client_as("pm").post(REBALANCE, body, format="json")
    assert response.status_code == 400
    assert set(problem_fields(response)) == {"total_equity", "sector_signals[0].action"}
    assert problem_of(response)["type"].endswith(":invalid")


def test_401_without_credentials_says_how_to_authenticate(demo):
    response = APIClient().get(BASE + "/")
    assert response.status_code == 401
    assert problem_of(response)["type"].endswith(":not-authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_401_with_a_bad_token(demo):
    response = APIClient().get(BASE + "/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401 and problem_of(response)["type"].endswith(":authentication-failed")


def test_403_a_viewer_cannot_rebalance(client_as, demo):
    response = client_as("viewer").post(REBALANCE, {"dry_run": True}, format="json")
    assert response.status_code == 403
    assert "rebalance" in problem_of(response)["detail"]


def test_404_of_a_view_and_of_a_path_no_route_takes(client_as, demo):
    missing = client_as("viewer").get(BASE + "/strategies/nope/")
    assert missing.status_code == 404 and problem_of(missing)["type"].endswith(":not-found")
    unrouted = client_as("viewer").get("/api/v1/nothing-here/")
    assert unrouted.status_code == 404 and problem_of(unrouted)["type"].endswith(":not-found")


def test_405_names_the_method(client_as, demo):
    response = client_as("pm").delete(REBALANCE)
    assert response.status_code == 405 and "DELETE" in problem_of(response)["detail"]


def test_406_for_a_representation_the_api_cannot_give(client_as, demo):
    response = client_as("viewer").get(BASE + "/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406 and problem_of(response)["type"].endswith(":not-acceptable")


def test_409_a_decided_run_cannot_be_decided_again(client_as, runs):
    url = f"{BASE}/runs/{runs['applied'].public_id}/approve/"
    response = client_as("risk2").post(url, {"reason": "again"}, format="json")
    assert response.status_code == 409
    body = problem_of(response)
    assert body["type"].endswith(":conflict") and "errors" not in body


def test_413_415_and_422(client_as, demo):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048):
        big = client_as("pm").post(REBALANCE, data=json.dumps({"pad": "x" * 5000}), content_type="application/json")
    assert big.status_code == 413 and problem_of(big)["type"].endswith(":payload-too-large")
    csv = client_as("pm").post(REBALANCE, data="a,b\n", content_type="text/csv")
    assert csv.status_code == 415 and "application/json" in problem_of(csv)["detail"]
    client = client_as("pm")
    assert client.post(REBALANCE, {"dry_run": True}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    reused = client.post(REBALANCE, {"dry_run": False}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert reused.status_code == 422
    assert set(problem_fields(reused)) == {"Idempotency-Key"}


def test_429_says_when_to_retry(client_as, demo, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"writes": "1/min", "login": "9/min"},
    }
    pm = client_as("pm")
    pm.post(REBALANCE, {"dry_run": True}, format="json")
    response = pm.post(REBALANCE, {"dry_run": True}, format="json")
    assert response.status_code == 429 and problem_of(response)["type"].endswith(":throttled")
    assert int(response["Retry-After"]) > 0


def test_503_when_the_database_does_not_answer(client_as, demo, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("allocations.api.views.portfolios.portfolio_for", down)
    response = client_as("viewer").get(BASE + "/")
    assert response.status_code == 503 and problem_of(response)["type"].endswith(":unavailable")
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("accept", ["text/html", "*/*"])
def test_a_browser_gets_the_browsable_page_and_a_client_the_problem(client_as, demo, accept):
    response = client_as("viewer").get(BASE + "/strategies/nope/", HTTP_ACCEPT=accept)
    assert response.status_code == 404
    expected = "text/html" if accept == "text/html" else "application/problem+json"
    assert response["Content-Type"].startswith(expected)
