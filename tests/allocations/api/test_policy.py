"""allocations/api/views/policy.py: a change that only tightens answers 200 with the new version, any
other 202 with a proposal that a second risk officer approves or rejects (issue 21, items 5 and 6)."""

from __future__ import annotations

import pytest

from allocations.models import AllocationPolicy, PolicyProposal
from tests.problems import problem_fields, problem_of

POLICY = "/api/v1/portfolios/demo/policy/"
PROPOSALS = POLICY + "proposals/"


def in_force(demo) -> AllocationPolicy:
    return AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first()


def test_switching_four_eyes_off_waits_for_a_second_risk_officer(client_as, demo):
    """The issue's PATCH {"approval_threshold": 2.0} applied at once, with no reason."""
    before = in_force(demo)
    missing = client_as("risk").patch(POLICY, {"approval_threshold": 2.0}, format="json")
    assert missing.status_code == 400 and "reason" in problem_fields(missing)
    response = client_as("risk").patch(POLICY, {"approval_threshold": 2.0, "reason": "quiet month"}, format="json")
    assert response.status_code == 202, response.content
    proposal = response.json()
    assert proposal["status"] == "pending_approval" and proposal["changes"] == {"approval_threshold": 2.0}
    assert proposal["base_version"] == before.version and proposal["requested_by"] == "risk"
    assert client_as("viewer").get(POLICY).json()["approval_threshold"] == before.approval_threshold
    assert [p["id"] for p in client_as("viewer").get(PROPOSALS).json()["results"]] == [proposal["id"]]

    approve = f"{PROPOSALS}{proposal['id']}/approve/"
    own = client_as("risk").post(approve, {"reason": "mine"}, format="json")
    assert own.status_code == 403 and "four eyes" in problem_of(own)["detail"]  # who asks: never a 409
    no_reason = client_as("risk2").post(approve, {}, format="json")
    assert no_reason.status_code == 400 and "reason" in problem_fields(no_reason)
    assert client_as("pm").post(approve, {"reason": "sure"}, format="json").status_code == 403
    assert in_force(demo) == before
    approved = client_as("risk2").post(approve, {"reason": "agreed for the quarter"}, format="json")
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert (
        body["status"] == "applied" and body["decided_by"] == "risk2" and body["applied_version"] == before.version + 1
    )
    assert client_as("viewer").get(POLICY).json()["approval_threshold"] == 2.0


def test_a_change_that_only_tightens_answers_the_new_version(client_as, demo):
    before = in_force(demo)
    response = client_as("risk").patch(POLICY, {"max_single_strategy_exposure": 0.1}, format="json")
    assert response.status_code == 200 and response.json()["version"] == before.version + 1
    assert response.json()["max_single_strategy_exposure"] == 0.1
    assert not PolicyProposal.objects.exists()


def test_a_rejection_keeps_the_policy(client_as, demo):
    before = in_force(demo)
    proposal = client_as("risk").post(PROPOSALS, {"max_total_risk": 0.95, "reason": "more room"}, format="json")
    assert proposal.status_code == 201
    reject = f"{PROPOSALS}{proposal.json()['id']}/reject/"
    assert client_as("risk2").post(reject, {}, format="json").status_code == 400
    rejected = client_as("risk2").post(reject, {"reason": "not now"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert in_force(demo) == before


def test_approving_against_a_version_no_longer_in_force_is_409_naming_the_field(client_as, demo):
    proposal = client_as("risk").post(PROPOSALS, {"max_total_risk": 0.95, "reason": "more room"}, format="json")
    tightened = client_as("risk2").patch(POLICY, {"max_daily_change": 0.05}, format="json")
    assert tightened.status_code == 200
    # the new version superseded the proposal; one put back to waiting (a row from before) is refused
    PolicyProposal.objects.filter(pk=proposal.json()["id"]).update(status="pending_approval")
    response = client_as("risk2").post(f"{PROPOSALS}{proposal.json()['id']}/approve/", {"reason": "ok"}, format="json")
    assert response.status_code == 409 and problem_of(response)["detail"].startswith("base_version ")


@pytest.mark.parametrize("reason", [None, ""])
def test_an_equity_approval_needs_a_reason(client_as, demo, reason):
    change = client_as("risk").post(
        "/api/v1/portfolios/demo/equity/", {"total_equity": "10500000.00", "reason": "inflow"}, format="json"
    )
    assert change.status_code == 201 and change.json()["status"] == "pending_approval"
    body = {} if reason is None else {"reason": reason}
    response = client_as("risk2").post(
        f"/api/v1/portfolios/demo/equity/{change.json()['id']}/approve/", body, format="json"
    )
    assert response.status_code == 400 and "reason" in problem_fields(response)
