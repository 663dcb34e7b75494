"""POST .../allocation/rebalance and the four-eyes approval, through the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps

from allocations.models import AllocationPolicy, AllocationRun, AuditEntry, Fund, IdempotencyRecord
from allocations.selectors.audit import audit_verify
from tests.allocations.demo_support import set_policy
from tests.problems import problem_fields

REBALANCE = "/api/v1/portfolios/demo/allocation/rebalance"
RESPONSE_KEYS = {
    "allocation_id",
    "dry_run",
    "status",
    "current_allocation",
    "target_allocation",
    "transition_schedule",
    "explanation",
}


def counts() -> dict[str, int]:
    """Rows of every table the API could write (domain, idempotency, tokens, audit)."""
    models = [*apps.get_app_config("allocations").get_models(), *apps.get_app_config("knox").get_models()]
    return {m.__name__: m.objects.count() for m in models}


def funds(portfolio) -> dict[str, Decimal]:
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy__code", "amount"))


def test_a_dry_run_answers_everything_and_writes_nothing(client_as, demo):
    before = counts()
    response = client_as("pm").post(
        REBALANCE,
        {"total_equity": 1e6, "dry_run": True, "allocation_method": "risk_parity"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="dry-1",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == RESPONSE_KEYS
    assert body["status"] == "computed"
    assert sum(body["target_allocation"].values()) == pytest.approx(1.0 - body["explanation"]["cash"], abs=1e-9)
    assert body["transition_schedule"][-1]["weights"] == pytest.approx(body["target_allocation"])
    after = counts()
    # the Idempotency-Key claim is the only row: it stores the dry run's answer for retries
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"IdempotencyRecord": 1}
    without_key = counts()
    assert client_as("pm").post(REBALANCE, {"dry_run": True}, format="json").status_code == 200
    assert counts() == without_key


def test_a_dry_run_says_so_and_carries_no_id_that_looks_stored(client_as, demo):
    """Issue 8 item 18: a dry run answered an allocation_id that exists nowhere."""
    dry = client_as("pm").post(REBALANCE, {"dry_run": True}, format="json").json()
    assert dry["dry_run"] is True and dry["allocation_id"] is None
    AllocationPolicy.objects.filter(portfolio=demo).update(approval_threshold=2.0)
    real = client_as("pm").post(REBALANCE, {}, format="json").json()
    assert real["dry_run"] is False
    assert AllocationRun.objects.get(public_id=real["allocation_id"]).status == "applied"


def test_a_rebalance_creates_one_run_moves_funds_and_is_audited(client_as, demo):
    set_policy(demo, approval_threshold=2.0)
    before = funds(demo)
    response = client_as("pm").post(REBALANCE, {"allocation_method": "risk_parity"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    run = AllocationRun.objects.get(public_id=body["allocation_id"])
    assert run.status == body["status"] == "applied"
    assert run.requested_by.username == "pm" and run.trigger == "api"
    assert funds(demo) != before
    assert AuditEntry.objects.filter(run=run, kind="fund_change").exists()
    assert audit_verify(portfolio=demo).ok
    detail = client_as("viewer").get(f"/api/v1/portfolios/demo/runs/{run.public_id}/").json()
    assert len(detail["lines"]) == 12
    assert detail["target_allocation"] == pytest.approx(body["target_allocation"])
    assert detail["transition_schedule"][0]["status"] == "applied"


def test_the_same_idempotency_key_replays_the_first_answer_and_makes_one_run(client_as, demo):
    payload = {"allocation_method": "equal_weight", "force_rebalance": False}
    first = client_as("pm").post(REBALANCE, payload, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
    # the same body with another key order and spacing is the same request
    retry = client_as("pm").post(
        REBALANCE,
        '{"force_rebalance": false,   "allocation_method": "equal_weight"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="abc-123",
    )
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert AllocationRun.objects.filter(portfolio=demo).count() == 1
    assert AllocationRun.objects.get().idempotency_key == "abc-123"


def test_the_same_key_with_another_body_is_422(client_as, demo):
    client = client_as("pm")
    assert client.post(REBALANCE, {"dry_run": True}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    response = client.post(
        REBALANCE, {"dry_run": True, "force_rebalance": True}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in problem_fields(response)


def test_keys_belong_to_their_user(client_as, demo):
    assert (
        client_as("pm").post(REBALANCE, {"dry_run": True}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    )
    other = client_as("integration").post(REBALANCE, {"dry_run": False}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 201


def test_another_users_run_is_never_answered_for_my_key(client_as, demo):
    """Issue 8 item 3: a second user sending the first user's key got the first user's run (200)."""
    AllocationPolicy.objects.filter(portfolio=demo).update(approval_threshold=2.0)
    body = {"allocation_method": "equal_weight"}
    mine = client_as("pm").post(REBALANCE, body, format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
    theirs = client_as("integration").post(REBALANCE, body, format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["allocation_id"] != mine.json()["allocation_id"]
    assert "Idempotent-Replayed" not in theirs
    runs = AllocationRun.objects.filter(portfolio=demo, idempotency_key="shared-key")
    assert sorted(runs.values_list("requested_by__username", flat=True)) == ["integration", "pm"]


def test_a_failed_request_releases_its_key(client_as, demo):
    client = client_as("pm")
    bad = client.post(REBALANCE, {"total_equity": -5}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert client.post(REBALANCE, {"dry_run": True}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 200


def test_a_retry_while_the_first_is_in_flight_is_409(client_as, demo, users):
    client = client_as("pm")
    body = {"dry_run": True}
    first = client.post(REBALANCE, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert first.status_code == 200
    IdempotencyRecord.objects.filter(key="slow").update(status_code=None, response_body=None)  # as if still running
    response = client.post(REBALANCE, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert response.status_code == 409
    assert "Idempotency-Key" in problem_fields(response)


def test_a_claim_abandoned_by_a_dead_process_is_released(client_as, demo, users):
    import datetime as dt

    from django.utils import timezone

    client = client_as("pm")
    body = {"dry_run": True}
    client.post(REBALANCE, body, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    IdempotencyRecord.objects.filter(key="orphan").update(
        status_code=None, response_body=None, created_at=timezone.now() - dt.timedelta(minutes=11)
    )
    response = client.post(REBALANCE, body, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    assert response.status_code == 200
    assert IdempotencyRecord.objects.get(key="orphan").status_code == 200


@pytest.mark.parametrize("key", ["", "   ", "x" * 201])
def test_a_malformed_key_is_400(client_as, demo, key):
    response = client_as("pm").post(REBALANCE, {"dry_run": True}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in problem_fields(response)


def test_other_posts_are_idempotent_too(client_as, demo):
    client = client_as("pm")
    signal = {"sector": "energy", "action": "BUY", "confidence": 0.3}
    first = client.post("/api/v1/portfolios/demo/signals/", signal, format="json", HTTP_IDEMPOTENCY_KEY="sig")
    again = client.post("/api/v1/portfolios/demo/signals/", signal, format="json", HTTP_IDEMPOTENCY_KEY="sig")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]


# --- four eyes ---------------------------------------------------------------------------------


@pytest.fixture
def pending(client_as, demo):
    """A run asked by risk that exceeds the approval threshold."""
    set_policy(demo, approval_threshold=0.0)
    response = client_as("risk").post(REBALANCE, {"allocation_method": "risk_parity"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "pending_approval"
    return response.json()["allocation_id"]


def test_a_pending_run_moves_no_money(client_as, demo, pending):
    assert AuditEntry.objects.filter(kind="fund_change", run__public_id=pending).count() == 0


def test_the_requester_cannot_approve_their_own_run(client_as, demo, pending):
    before = funds(demo)
    response = client_as("risk").post(
        f"/api/v1/portfolios/demo/runs/{pending}/approve/", {"reason": "checked"}, format="json"
    )
    assert response.status_code == 403  # four eyes is about who asks: 403, never 409
    assert funds(demo) == before
    assert AllocationRun.objects.get(public_id=pending).status == "pending_approval"


def test_a_user_without_approve_permission_gets_403_before_four_eyes(client_as, demo, pending):
    response = client_as("pm").post(
        f"/api/v1/portfolios/demo/runs/{pending}/approve/", {"reason": "checked"}, format="json"
    )
    assert response.status_code == 403


def test_another_risk_officer_approves_and_funds_move(client_as, demo, pending):
    before = funds(demo)
    response = client_as("risk2").post(
        f"/api/v1/portfolios/demo/runs/{pending}/approve/", {"reason": "checked"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "applied"
    assert response.json()["decided_by"] == "risk2"
    assert funds(demo) != before
    approval = AuditEntry.objects.get(kind="run_approved", run__public_id=pending)
    assert approval.actor.username == "risk2" and approval.reason == "checked"
    again = client_as("risk2").post(
        f"/api/v1/portfolios/demo/runs/{pending}/approve/", {"reason": "checked"}, format="json"
    )
    assert again.status_code == 409


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_approve_needs_a_reason(client_as, demo, pending, body):
    """Issue 21 item 6: an approval moves money; like a rejection it says why."""
    before = funds(demo)
    response = client_as("risk2").post(f"/api/v1/portfolios/demo/runs/{pending}/approve/", body, format="json")
    assert response.status_code == 400 and "reason" in problem_fields(response)
    assert funds(demo) == before
    assert AllocationRun.objects.get(public_id=pending).status == "pending_approval"


def test_reject_needs_a_reason_and_leaves_funds_untouched(client_as, demo, pending):
    before = funds(demo)
    url = f"/api/v1/portfolios/demo/runs/{pending}/reject/"
    missing = client_as("risk2").post(url, {}, format="json")
    assert missing.status_code == 400 and "reason" in problem_fields(missing)
    response = client_as("risk2").post(url, {"reason": "turnover too high"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert funds(demo) == before
    rejection = AuditEntry.objects.get(kind="run_rejected", run__public_id=pending)
    assert rejection.reason == "turnover too high" and rejection.actor.username == "risk2"


def test_cancel_a_schedule_keeps_funds_and_is_audited(client_as, runs, demo):
    schedule = runs["schedule"]
    before = funds(demo)
    url = f"/api/v1/portfolios/demo/schedules/{schedule.pk}/cancel/"
    response = client_as("risk2").post(url, {"reason": "market closed"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["closed_by"] == "risk2"
    assert {s["status"] for s in body["steps"][1:]} == {"cancelled"}
    assert funds(demo) == before
    assert client_as("risk2").post(url, {"reason": "again"}, format="json").status_code == 409


def test_schedule_detail_names_strategies_by_code(client_as, runs):
    body = client_as("viewer").get(f"/api/v1/portfolios/demo/schedules/{runs['schedule'].pk}/").json()
    assert body["steps"][0]["status"] == "applied"
    assert set(body["steps"][0]["weights"]) == set(funds(runs["schedule"].portfolio))


@pytest.mark.parametrize(
    ("query", "expected"),
    [("status=pending_approval", 1), ("status=applied", 1), ("trigger=api", 2), ("trigger=schedule", 0)],
)
def test_runs_filter_by_status_and_trigger(client_as, runs, query, expected):
    response = client_as("viewer").get(f"/api/v1/portfolios/demo/runs/?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == expected


def test_runs_filter_rejects_an_unknown_status(client_as, runs):
    response = client_as("viewer").get("/api/v1/portfolios/demo/runs/?status=bogus")
    assert response.status_code == 400 and "status" in problem_fields(response)
