"""allocations/services/approvals.py: four eyes on a run waiting for approval, and the plan it starts.

Approval plans from the funds as they are when it is given (not when the run was made), in the
portfolio's time zone, and applies step 1; rejection moves nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from allocations.errors import ConflictError, DomainError, NotPermitted
from allocations.models import AllocationRun, AuditEntry, Fund, TransitionSchedule, TransitionStep
from allocations.selectors.audit import audit_verify
from allocations.services.actors import Actor
from allocations.services.approvals import allocation_run_approve, allocation_run_reject
from allocations.services.funds import funds_set_many
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import set_policy

from .conftest import EQUITY, funds_of


def test_pending_run_waits_for_a_second_risk_officer(demo, users):
    set_policy(demo, approval_threshold=0.0)
    before = funds_of(demo)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["risk"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    run = outcome.run
    assert run.status == AllocationRun.Status.PENDING_APPROVAL
    assert funds_of(demo) == before
    planned = outcome.transition_schedule
    assert planned and all(step["status"] == "planned" for step in planned)
    assert planned[-1]["weights"] == pytest.approx(outcome.target_allocation, abs=1e-15)
    with pytest.raises(NotPermitted):
        allocation_run_approve(run=run, actor=Actor.of_user(users["risk"]), reason="checked")
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.PENDING_APPROVAL and funds_of(demo) == before

    approved = allocation_run_approve(run=run, actor=Actor.of_user(users["risk2"]), reason="checked")
    assert approved.status == AllocationRun.Status.APPLIED and approved.decided_by == users["risk2"]
    assert funds_of(demo) != before
    assert AuditEntry.objects.filter(run=run, kind=AuditEntry.Kind.RUN_APPROVED, actor=users["risk2"]).exists()
    with pytest.raises(ConflictError):
        allocation_run_approve(run=run, actor=Actor.of_user(users["risk2"]), reason="checked")


def test_rejected_run_leaves_funds_untouched(demo, users):
    set_policy(demo, approval_threshold=0.0)
    before = funds_of(demo)
    run = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    ).run
    with pytest.raises(DomainError) as err:
        allocation_run_reject(run=run, actor=Actor.of_user(users["risk"]), reason=" ")
    assert err.value.field == "reason"
    rejected = allocation_run_reject(run=run, actor=Actor.of_user(users["risk"]), reason="too much turnover")
    assert rejected.status == AllocationRun.Status.REJECTED
    assert funds_of(demo) == before
    assert not TransitionSchedule.objects.filter(run=run).exists()
    entry = AuditEntry.objects.get(run=run, kind=AuditEntry.Kind.RUN_REJECTED)
    assert entry.reason == "too much turnover" and entry.actor == users["risk"]


# --- approval plans from the funds of the moment ----------------------------------------------

CAP = 0.02
PERIOD = 3


def pending_run(demo, users) -> AllocationRun:
    set_policy(
        demo, approval_threshold=0.0, max_daily_change=CAP, min_change_threshold=0.0, transition_period_days=PERIOD
    )
    run = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    ).run
    assert run.status == AllocationRun.Status.PENDING_APPROVAL
    return run


def hand_plan(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """n = max(period, ceil(max|Δ| / cap)) equal steps from ``current`` to ``target`` (min change 0)."""
    n = max(PERIOD, math.ceil(float(np.abs(target - current).max()) / CAP - 1e-9))
    k = np.arange(1, n + 1)[:, None] / n
    return (1 - k) * current + k * target


def cents_below(weight: float, equity: Decimal) -> Decimal:
    """weight x equity (the weight's shortest decimal, exactly), rounded down to the cent."""
    return Decimal(math.floor(Fraction(repr(weight)) * Fraction(str(equity)) * 100)) / 100


def stored_plan(run: AllocationRun, ids: list[int]) -> tuple[list[TransitionStep], np.ndarray]:
    steps = list(TransitionSchedule.objects.get(run=run).steps.order_by("index"))
    return steps, np.array([[step.weights[str(sid)] for sid in ids] for step in steps])


def test_approval_plans_from_the_funds_as_they_are_at_approval(demo, users):
    run = pending_run(demo, users)
    lines = list(run.lines.order_by("strategy_id").values_list("strategy_id", "current_weight", "target_weight"))
    ids = [sid for sid, _, _ in lines]
    target = np.array([t for _, _, t in lines])
    # between the request and the approval the funds change: the largest target loses its fund,
    # another strategy gets 3 % of the equity more
    biggest, other = ids[int(np.argmax(target))], ids[int(np.argmin(target))]
    funds = dict(Fund.objects.filter(strategy__portfolio=demo).values_list("strategy_id", "amount"))
    funds_set_many(
        portfolio=demo,
        amounts={biggest: Decimal("0.00"), other: funds.get(other, Decimal("0")) + EQUITY * Decimal("0.03")},
        actor=Actor.system("test"),
    )
    now = dict(Fund.objects.filter(strategy__portfolio=demo).values_list("strategy_id", "amount"))
    basis = max(EQUITY, sum(now.values(), Decimal("0")))
    current = np.array([float(now.get(sid, 0)) for sid in ids]) / float(basis)
    at_request = np.array([c for _, c, _ in lines])
    assert abs(current[ids.index(biggest)] - at_request[ids.index(biggest)]) > 0.001  # the funds did move

    allocation_run_approve(run=run, actor=Actor.of_user(users["risk"]), reason="ok")

    expected = hand_plan(current, target)
    steps, plan = stored_plan(run, ids)
    assert plan.shape == expected.shape
    np.testing.assert_allclose(plan, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(plan[-1], target)
    assert not np.allclose(plan[0], hand_plan(at_request, target)[0], atol=1e-6)  # not the request's plan
    assert [s.status for s in steps] == ["applied"] + ["pending"] * (len(steps) - 1)
    # step 1 moved every fund whose weight changed, to its weight x equity rounded down to the cent
    after = dict(Fund.objects.filter(strategy__portfolio=demo).values_list("strategy_id", "amount"))
    for j, sid in enumerate(ids):
        if plan[0, j] != current[j]:
            assert after[sid] == cents_below(float(plan[0, j]), EQUITY), sid
    moved = AuditEntry.objects.filter(run=run, step=steps[0], kind=AuditEntry.Kind.FUND_CHANGE)
    assert {row.strategy_id for row in moved} == {sid for j, sid in enumerate(ids) if after[sid] != now.get(sid)}
    approved = AuditEntry.objects.get(run=run, kind=AuditEntry.Kind.RUN_APPROVED)
    assert approved.payload == {"allocation_id": str(run.public_id), "steps": len(steps)}
    assert audit_verify().ok


def test_approval_with_unchanged_funds_starts_the_plan_the_request_answered(demo, users):
    set_policy(
        demo, approval_threshold=0.0, max_daily_change=CAP, min_change_threshold=0.0, transition_period_days=PERIOD
    )
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    allocation_run_approve(run=outcome.run, actor=Actor.of_user(users["risk2"]), reason="checked")
    answered = outcome.transition_schedule
    steps = list(TransitionSchedule.objects.get(run=outcome.run).steps.order_by("index"))
    codes = dict(demo.strategies.values_list("id", "code"))
    assert len(steps) == len(answered)
    for step, planned in zip(steps, answered, strict=True):
        assert {codes[int(sid)]: w for sid, w in step.weights.items()} == pytest.approx(planned["weights"], abs=1e-15)


def test_approval_dates_the_steps_in_the_portfolios_time_zone(demo, users):
    demo.timezone = "Asia/Tokyo"
    demo.save(update_fields=["timezone"])
    run = pending_run(demo, users)
    friday_late = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)  # Saturday 08:30 in Tokyo
    assert friday_late.astimezone(ZoneInfo("Asia/Tokyo")).date() == dt.date(2026, 11, 28)
    with mock.patch("django.utils.timezone.now", return_value=friday_late):
        allocation_run_approve(run=run, actor=Actor.of_user(users["risk"]), reason="checked")
    steps = list(TransitionSchedule.objects.get(run=run).steps.order_by("index"))
    assert len(steps) >= PERIOD
    expected = [np.busday_offset("2026-11-28", k, roll="forward").astype(dt.date) for k in range(len(steps))]
    assert [s.due_date for s in steps] == expected
    assert steps[0].due_date == dt.date(2026, 11, 30)  # Monday, not Friday the 27th (UTC's date)


def test_a_decided_run_is_not_decided_again(demo, users):
    run = pending_run(demo, users)
    allocation_run_reject(run=run, actor=Actor.of_user(users["risk"]), reason="no")
    before = funds_of(demo)
    with pytest.raises(ConflictError) as err:
        allocation_run_approve(run=run, actor=Actor.of_user(users["risk2"]), reason="checked")
    assert err.value.field == "status"
    with pytest.raises(ConflictError):
        allocation_run_reject(run=run, actor=Actor.of_user(users["risk2"]), reason="again")
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.REJECTED and run.decided_by == users["risk"]
    assert funds_of(demo) == before
    assert AuditEntry.objects.filter(run=run, kind=AuditEntry.Kind.RUN_REJECTED).count() == 1
    assert not AuditEntry.objects.filter(run=run, kind=AuditEntry.Kind.RUN_APPROVED).exists()


def test_a_system_actor_cannot_approve(demo, users):
    run = pending_run(demo, users)
    before = funds_of(demo)
    with pytest.raises(NotPermitted) as err:
        allocation_run_approve(run=run, actor=Actor.system("beat"), reason="checked")
    assert err.value.field == "approved_by"
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.PENDING_APPROVAL and run.decided_by is None
    assert funds_of(demo) == before and not TransitionSchedule.objects.filter(run=run).exists()


def test_approval_supersedes_the_active_schedule(demo, users):
    set_policy(demo, approval_threshold=2.0, max_daily_change=CAP, min_change_threshold=0.0)
    first = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    ).run
    old = TransitionSchedule.objects.get(run=first)
    assert old.status == TransitionSchedule.Status.ACTIVE
    run = pending_run(demo, users)
    old.refresh_from_db()
    assert old.status == TransitionSchedule.Status.ACTIVE  # a pending run moves nothing yet
    allocation_run_approve(run=run, actor=Actor.of_user(users["risk"]), reason="checked")
    old.refresh_from_db()
    assert old.status == TransitionSchedule.Status.SUPERSEDED
    assert not old.steps.filter(status=TransitionStep.Status.PENDING).exists()
    assert TransitionSchedule.objects.filter(portfolio=demo, status="active").get().run == run


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_approval_needs_a_reason(demo, users, reason):
    """Issue 21 item 6: rejections asked for a reason, approvals did not."""
    set_policy(demo, approval_threshold=0.0)
    run = allocation_run_create(portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest()).run
    before = funds_of(demo)
    with pytest.raises(DomainError) as err:
        allocation_run_approve(run=run, actor=Actor.of_user(users["risk"]), reason=reason)
    assert err.value.field == "reason"
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.PENDING_APPROVAL and funds_of(demo) == before
