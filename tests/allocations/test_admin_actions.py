"""The admin for risk officers: scoped to granted portfolios, changes through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from allocations.models import AllocationPolicy, AllocationRun, AuditEntry, Fund, Portfolio, TransitionSchedule
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.admin_support import DEMO_PASSWORD, logged_in, module_world

demo_world = module_world()


@pytest.fixture
def demo(demo_world, db):
    return Portfolio.objects.get(slug="demo")


def _funds(portfolio):
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy_id", "amount"))


def _pending_run(demo, username="pm"):
    from django.contrib.auth import get_user_model

    AllocationPolicy.objects.filter(portfolio=demo).update(approval_threshold=0.0)
    user = get_user_model().objects.get(username=username)
    return allocation_run_create(portfolio=demo, actor=Actor.of_user(user), request=RebalanceRequest()).run


def test_risk_officer_sees_only_granted_portfolios(demo):
    client = logged_in("risk")
    other = Portfolio.objects.get(slug="demo-b")
    listing = client.get("/admin/allocations/portfolio/")
    assert listing.status_code == 200
    assert b">demo<" in listing.content and b"demo-b" not in listing.content
    assert client.get(f"/admin/allocations/portfolio/{other.pk}/change/").status_code in (302, 404)
    audit = client.get("/admin/allocations/auditentry/")
    assert audit.status_code == 200 and b"demo-b" not in audit.content
    assert logged_in("admin").get("/admin/allocations/auditentry/").content.count(b"demo-b") > 0


def test_approve_action_applies_the_run_and_refuses_the_requester(demo):
    run = _pending_run(demo, username="risk")
    before = _funds(demo)
    url = "/admin/allocations/allocationrun/"
    data = {"action": "approve", ACTION_CHECKBOX_NAME: [run.pk], "apply": "1", "reason": "ok by me"}

    logged_in("risk").post(url, data)  # the requester: four eyes refuse
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.PENDING_APPROVAL and _funds(demo) == before

    response = logged_in("risk2").post(url, data)
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.APPLIED and run.decided_by.username == "risk2"
    assert _funds(demo) != before
    assert AuditEntry.objects.get(run=run, kind=AuditEntry.Kind.RUN_APPROVED).reason == "ok by me"


def test_reject_action_asks_for_a_reason_then_leaves_funds(demo):
    run = _pending_run(demo)
    before = _funds(demo)
    url = "/admin/allocations/allocationrun/"
    client = logged_in("risk")
    form = client.post(url, {"action": "reject", ACTION_CHECKBOX_NAME: [run.pk]})
    assert form.status_code == 200 and b"reason" in form.content
    client.post(url, {"action": "reject", ACTION_CHECKBOX_NAME: [run.pk], "apply": "1", "reason": "not today"})
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.REJECTED
    assert _funds(demo) == before


def test_viewer_cannot_use_the_admin_and_pm_cannot_approve(demo):
    assert Client().login(username="viewer", password=DEMO_PASSWORD)
    viewer = logged_in("viewer")
    assert viewer.get("/admin/allocations/allocationrun/").status_code == 302  # not staff: to the login page
    run = _pending_run(demo)
    # The portfolio manager is not staff either; a risk officer without the grant on demo-b sees nothing there.
    assert logged_in("pm").get("/admin/").status_code == 302
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.PENDING_APPROVAL


def test_policy_edit_saves_a_new_audited_version(demo):
    policy = AllocationPolicy.objects.get(portfolio=demo, version=1)
    client = logged_in("risk")
    page = client.get(f"/admin/allocations/allocationpolicy/{policy.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["max_sector_exposure"] = "0.25"
    data["reason"] = "tighter sector cap"
    response = client.post(f"/admin/allocations/allocationpolicy/{policy.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    policy.refresh_from_db()
    assert policy.max_sector_exposure == 0.3  # the old version is kept as it was
    newest = AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first()
    assert newest.version == 2 and newest.max_sector_exposure == 0.25 and newest.created_by.username == "risk"
    entry = AuditEntry.objects.filter(portfolio=demo, kind=AuditEntry.Kind.POLICY_CHANGE).order_by("-id").first()
    assert entry.reason == "tighter sector cap" and entry.payload["version"] == 2


def test_cancel_schedule_action(demo):
    from django.contrib.auth import get_user_model

    AllocationPolicy.objects.filter(portfolio=demo).update(
        approval_threshold=2.0, max_daily_change=0.01, min_change_threshold=0.0
    )
    pm = get_user_model().objects.get(username="pm")
    run = allocation_run_create(portfolio=demo, actor=Actor.of_user(pm), request=RebalanceRequest()).run
    schedule = TransitionSchedule.objects.get(run=run)
    assert schedule.status == TransitionSchedule.Status.ACTIVE
    logged_in("risk").post(
        "/admin/allocations/transitionschedule/",
        {"action": "cancel", ACTION_CHECKBOX_NAME: [schedule.pk], "apply": "1", "reason": "halt"},
    )
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.CANCELLED and schedule.close_reason == "halt"


def test_the_admin_does_not_edit_the_equity_of_a_portfolio(demo):
    """Issue 8 item 9: the admin changed total_equity with no audit row."""
    client = logged_in("admin")
    before = AuditEntry.objects.count()
    page = client.get(f"/admin/allocations/portfolio/{demo.pk}/change/")
    assert page.status_code == 200 and b'name="total_equity"' not in page.content
    client.post(
        f"/admin/allocations/portfolio/{demo.pk}/change/",
        {"name": "Demo renamed", "total_equity": "13000000.00", "timezone": "UTC"},
    )
    demo.refresh_from_db()
    assert demo.total_equity == Decimal("10000000.00")
    assert not AuditEntry.objects.filter(kind=AuditEntry.Kind.EQUITY_CHANGE).exists()
    assert AuditEntry.objects.count() == before


def test_a_waiting_equity_change_is_approved_by_a_second_risk_officer_in_the_admin(demo):
    from django.contrib.auth import get_user_model

    from allocations.models import EquityChange
    from allocations.services.equity import equity_change_request

    risk = get_user_model().objects.get(username="risk")
    change = equity_change_request(
        portfolio=demo, actor=Actor.of_user(risk), equity=Decimal("20000000"), reason="new mandate"
    )
    url = "/admin/allocations/equitychange/"
    data = {"action": "approve", ACTION_CHECKBOX_NAME: [change.pk], "apply": "1", "reason": "wire received"}
    logged_in("risk").post(url, data)  # the requester: four eyes refuse
    change.refresh_from_db()
    assert change.status == EquityChange.Status.PENDING_APPROVAL
    logged_in("risk2").post(url, data)
    change.refresh_from_db()
    demo.refresh_from_db()
    assert change.status == EquityChange.Status.APPLIED and demo.total_equity == Decimal("20000000.00")
    rows = AuditEntry.objects.filter(kind=AuditEntry.Kind.EQUITY_CHANGE).order_by("id")
    assert [(r.old_amount, r.new_amount) for r in rows][-1] == (Decimal("10000000.00"), Decimal("20000000.00"))


def test_a_policy_edit_that_loosens_is_a_proposal_a_second_officer_approves_in_the_admin(demo):
    """Issue 21 items 5 and 6: raising the approval threshold in the admin waits for a second risk officer."""
    from allocations.models import PolicyProposal

    policy = AllocationPolicy.objects.get(portfolio=demo, version=1)
    client = logged_in("risk")
    form = client.get(f"/admin/allocations/allocationpolicy/{policy.pk}/change/").context["adminform"].form
    data = {name: ("" if form[name].value() is None else form[name].value()) for name in form.fields}
    data.update(approval_threshold="2.0", reason="fewer approvals")
    assert client.post(f"/admin/allocations/allocationpolicy/{policy.pk}/change/", data).status_code == 302
    assert AllocationPolicy.objects.filter(portfolio=demo).count() == 1  # nothing changed yet
    proposal = PolicyProposal.objects.get(portfolio=demo, status="pending_approval")
    assert proposal.changes == {"approval_threshold": 2.0} and proposal.reason == "fewer approvals"
    url = "/admin/allocations/policyproposal/"
    action = {"action": "approve", ACTION_CHECKBOX_NAME: [proposal.pk], "apply": "1"}
    logged_in("risk").post(url, {**action, "reason": "mine"})  # the proposer: four eyes refuse
    logged_in("risk2").post(url, {**action, "reason": ""})  # no reason: the form asks again
    proposal.refresh_from_db()
    assert proposal.status == "pending_approval"
    logged_in("risk2").post(url, {**action, "reason": "agreed"})
    proposal.refresh_from_db()
    newest = AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first()
    assert proposal.status == "applied" and (newest.version, newest.approval_threshold) == (2, 2.0)
    assert proposal.decided_by.username == "risk2" and proposal.decision_reason == "agreed"
