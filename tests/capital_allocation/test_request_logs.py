"""Structured logs: JSON lines, a request id on every line of a request, run and task context, no secrets."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from allocations.models import Portfolio
from capital_allocation import logs
from tests.allocations.api.conftest import demo, demo_world, users  # noqa: F401 - fixtures

from .log_capture import json_log_lines

REBALANCE = "/api/v1/portfolios/demo/allocation/rebalance"
PASSWORD = "Pm-Secret-Passw0rd-4711"
WRONG_PASSWORD = "Wrong-Guess-Passw0rd-0815"


def test_a_client_request_id_is_echoed_and_on_every_line(client, db):
    with json_log_lines() as captured:
        response = client.get("/health/", HTTP_X_REQUEST_ID="lb-7f3a.42")
        logging.getLogger("unrelated").info("outside any request")
    assert response["X-Request-ID"] == "lb-7f3a.42"
    request_lines = [line for line in captured.lines if line["logger"] == "capital_allocation.request"]
    assert request_lines and all(line["request_id"] == "lb-7f3a.42" for line in request_lines)
    assert request_lines[0]["status"] == 200 and request_lines[0]["view"] == "health"
    outside = [line for line in captured.lines if line["logger"] == "unrelated"]
    assert outside and "request_id" not in outside[0]


@pytest.mark.parametrize("header", [None, "", "a b", "x" * 200, "id\nforged line"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, db, header):
    extra = {} if header is None else {"HTTP_X_REQUEST_ID": header}
    first = client.get("/health/", **extra)["X-Request-ID"]
    second = client.get("/health/", **extra)["X-Request-ID"]
    assert first != second and len(first) == 32 and first.isalnum()


def test_lines_about_a_run_carry_the_run_the_portfolio_and_the_user(demo, users):  # noqa: F811
    api = APIClient()
    api.force_authenticate(user=users["pm"])
    with json_log_lines() as captured:
        response = api.post(REBALANCE, {"force_rebalance": True}, format="json", HTTP_X_REQUEST_ID="req-run-1")
    assert response.status_code in (200, 201), response.content
    run_id = response.json()["allocation_id"]
    lines = captured.lines
    assert lines and all(line.get("request_id") == "req-run-1" for line in lines), lines
    about_run = [line for line in lines if line["logger"] in ("capital_allocation.runs", "capital_allocation.request")]
    assert len(about_run) >= 2
    for line in about_run:
        assert (line["run_id"], line["portfolio"], line["user"]) == (run_id, "demo", "pm"), line


def test_task_lines_carry_the_task_id_and_the_portfolio(demo):  # noqa: F811
    from allocations.tasks import rebalance_portfolio

    with json_log_lines() as captured:
        result = rebalance_portfolio.apply(args=(demo.pk, "2026-11-27"), task_id="task-abc-1")
    assert result.successful(), result.traceback
    task_lines = [line for line in captured.lines if line.get("task_id") == "task-abc-1"]
    assert any(line["message"] == "task started" for line in task_lines)
    assert any(line["message"].startswith("task finished") for line in task_lines)
    assert all(
        line["portfolio_id"] == demo.pk and line["task"] == "allocations.rebalance_portfolio" for line in task_lines
    )
    assert any(line.get("portfolio") == "demo" and line.get("run_id") for line in task_lines)
    assert not [line for line in captured.lines if "task_id" not in line and line["logger"].startswith("allocations")]


def test_a_failed_login_and_a_failed_rebalance_log_no_password_token_or_key(demo, users):  # noqa: F811
    pm = users["pm"]
    pm.set_password(PASSWORD)
    pm.save()
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    with json_log_lines() as captured:
        refused = client.post("/api/v1/auth/token/", {"username": "pm", "password": WRONG_PASSWORD}, format="json")
        assert refused.status_code in (400, 401, 403), refused.content
        issued = client.post("/api/v1/auth/token/", {"username": "pm", "password": PASSWORD}, format="json")
        assert issued.status_code == 200, issued.content
        token = issued.json()["token"]
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        bad_method = client.post(REBALANCE, {"allocation_method": "astrology"}, format="json")
        assert bad_method.status_code == 400, bad_method.content
        # another portfolio's equity: refused by the service
        equity = Portfolio.objects.get(slug="demo").total_equity
        refused_run = client.post(REBALANCE, {"total_equity": float(equity) * 3 + 1}, format="json")
        assert refused_run.status_code in (400, 403, 409), refused_run.content
        logging.getLogger("capital_allocation.test").warning(
            "an error quoting a request: Authorization: Token %s, password=%s", token, WRONG_PASSWORD
        )
    text = captured.text
    assert len(captured.lines) >= 5
    for secret in (PASSWORD, WRONG_PASSWORD, token, token[:15], settings.SECRET_KEY, settings.AUDIT_HMAC_KEY):
        assert secret not in text, f"a secret reached the logs: {secret[:6]}..."
    failed = [line for line in captured.lines if line.get("status") in (400, 401, 403, 409)]
    assert {line["path"] for line in failed} >= {"/api/v1/auth/token/", REBALANCE}
    assert all(json.dumps(line) for line in failed)


@pytest.mark.parametrize(
    "message",
    [
        "Authorization: Token 0123456789abcdef0123",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        'body {"password": "hunter2-long", "username": "pm"}',
        "password=hunter2-long&username=pm",
        "webhook secret=whsec_0123456789",
    ],
)
def test_redaction_masks_credentials_in_any_message(message):
    cleaned = logs.redact(message)
    for secret in ("0123456789abcdef0123", "eyJhbGciOiJIUzI1NiJ9", "hunter2-long", "whsec_0123456789"):
        assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_an_error_line_carries_the_request_context_and_a_redacted_traceback(rf):
    from django.http import HttpResponse

    from capital_allocation.middleware import RequestContextMiddleware

    def failing_view(request):
        try:
            raise RuntimeError("upstream refused: password=hunter2-long Token abcdef0123456789abcd")
        except RuntimeError:
            logging.getLogger("django.request").exception("Internal Server Error: %s", request.path)
        return HttpResponse(status=500)

    request = rf.get("/api/v1/portfolios/demo/", HTTP_X_REQUEST_ID="err-1")
    with json_log_lines() as captured:
        response = RequestContextMiddleware(failing_view)(request)
    assert response.status_code == 500 and response["X-Request-ID"] == "err-1"
    error = next(line for line in captured.lines if line["logger"] == "django.request")
    assert error["request_id"] == "err-1" and error["level"] == "ERROR"
    assert "RuntimeError" in error["exc_info"]
    assert "hunter2-long" not in captured.text and "abcdef0123456789abcd" not in captured.text
    request_line = next(line for line in captured.lines if line["logger"] == "capital_allocation.request")
    assert request_line["level"] == "ERROR" and request_line["status"] == 500
