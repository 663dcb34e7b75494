"""allocations/services/equity.py: the equity is two risk officers' audited decision; funds follow it down."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest
from django.contrib.auth import get_user_model

from allocations.errors import ConflictError, DomainError, NotPermitted
from allocations.models import (
    AllocationRun,
    AuditEntry,
    EquityChange,
    Fund,
    OutboxEvent,
    Portfolio,
    TransitionSchedule,
    TransitionStep,
)
from allocations.money import amounts_for_weights
from allocations.selectors.audit import audit_verify
from allocations.services.actors import Actor
from allocations.services.approvals import allocation_run_approve
from allocations.services.equity import equity_change_approve, equity_change_reject, equity_change_request
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.schedules import transition_step_apply
from tests.allocations.demo_support import set_policy

from .conftest import EQUITY, funds_of


@pytest.fixture(autouse=True)
def _threshold(demo):
    set_policy(demo, approval_threshold=0.25)


def actor(name: str) -> Actor:
    return Actor.of_user(get_user_model().objects.get(username=name))


def _equity_rows(portfolio):
    return AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.EQUITY_CHANGE).order_by("id")


def test_a_change_waits_for_a_second_risk_officer_and_is_audited(demo):
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal("11000000"), reason="inflow")
    demo.refresh_from_db()
    assert change.status == EquityChange.Status.PENDING_APPROVAL and demo.total_equity == EQUITY
    with pytest.raises(NotPermitted):
        equity_change_approve(change=change, actor=actor("risk"), reason="mine")
    equity_change_approve(change=change, actor=actor("risk2"), reason="checked the wire")
    demo.refresh_from_db()
    assert demo.total_equity == Decimal("11000000.00")
    rows = list(_equity_rows(demo))
    assert [r.payload["outcome"] for r in rows] == ["proposed", "applied"]
    assert (rows[-1].old_amount, rows[-1].new_amount) == (EQUITY, Decimal("11000000.00"))
    assert rows[0].reason == "inflow" and rows[-1].reason == "checked the wire" and audit_verify().ok


def test_every_change_needs_a_second_risk_officer_however_small(demo):
    """Issue 21 item 4: one risk officer went 10 M -> 12.4 M -> 15.4 M -> 19.2 M in three requests,
    each below the approval threshold. Each now waits (and supersedes the one before)."""
    for equity in ("12400000", "15400000", "19200000"):
        change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal(equity), reason="inflow")
        assert change.status == EquityChange.Status.PENDING_APPROVAL
        demo.refresh_from_db()
        assert demo.total_equity == EQUITY
    statuses = list(EquityChange.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["superseded", "superseded", "pending_approval"]
    assert [r.payload["outcome"] for r in _equity_rows(demo)] == [
        "proposed", "superseded", "proposed", "superseded", "proposed",
    ]  # fmt: skip


def test_a_risk_officer_cannot_rebalance_at_another_equity(demo):
    """Issue 21 item 4: a risk officer's rebalance with its own total_equity invested it with one pair of eyes."""
    set_policy(demo, approval_threshold=2.0)
    with pytest.raises(DomainError) as err:
        allocation_run_create(
            portfolio=demo, actor=actor("risk"), request=RebalanceRequest(total_equity=Decimal("12000000"))
        )
    assert err.value.field == "total_equity"
    assert not AllocationRun.objects.exists() and sum(funds_of(demo).values()) <= EQUITY


def test_approving_an_equity_change_needs_a_reason(demo):
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal("13000000"), reason="inflow")
    for reason in ("", "  "):
        with pytest.raises(DomainError) as err:
            equity_change_approve(change=change, actor=actor("risk2"), reason=reason)
        assert err.value.field == "reason"
    change.refresh_from_db()
    demo.refresh_from_db()
    assert change.status == EquityChange.Status.PENDING_APPROVAL and demo.total_equity == EQUITY


def _approved(demo, equity: str) -> EquityChange:
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal(equity), reason="redemption")
    return equity_change_approve(change=change, actor=actor("risk2"), reason="wire seen")


def test_lowering_the_equity_below_the_funds_scales_every_fund_down(demo):
    """Issue 21 item 3: 10 M -> 8 M left the funds at 9,999,999.61 (cash -2.0 M)."""
    before = funds_of(demo)
    invested = sum(before.values())
    assert invested > Decimal("8000000")
    _approved(demo, "8000000")
    after = funds_of(demo)
    assert sum(after.values()) <= Decimal("8000000.00")
    for code, amount in before.items():  # each fund x 8 M / invested, rounded down to the cent
        expected = (amount * Decimal("8000000") / invested).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
        assert after[code] == expected
    moves = AuditEntry.objects.filter(portfolio=demo, kind=AuditEntry.Kind.FUND_CHANGE, reason__startswith="equity")
    assert moves.count() == sum(1 for c in before if before[c] != after[c])
    assert moves.order_by("seq").last().total_capital == sum(after.values()) and audit_verify().ok
    event = OutboxEvent.objects.get(kind=OutboxEvent.Kind.FUNDS_SCALED)  # the order-execution system hears of it
    assert event.run is None and event.payload["equity"] == "8000000.00"
    assert event.payload["amounts"] == {code: str(amount) for code, amount in after.items()}


def test_raising_the_equity_moves_no_fund(demo):
    before = funds_of(demo)
    _approved(demo, "12000000")
    assert funds_of(demo) == before and not OutboxEvent.objects.exists()


def test_an_equity_change_supersedes_the_active_schedule_and_every_waiting_run(demo):
    """Issue 21 item 3: steps planned and runs computed at 10 M kept investing 10 M after the cut."""
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    applied = allocation_run_create(portfolio=demo, actor=actor("pm"), request=RebalanceRequest()).run
    schedule = TransitionSchedule.objects.get(run=applied)
    assert schedule.status == TransitionSchedule.Status.ACTIVE
    set_policy(demo, approval_threshold=0.0)
    waiting = allocation_run_create(
        portfolio=demo, actor=actor("pm"), request=RebalanceRequest(allocation_method="equal_weight")
    ).run
    assert waiting.status == AllocationRun.Status.PENDING_APPROVAL
    change = _approved(demo, "8000000")
    schedule.refresh_from_db()
    waiting.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.SUPERSEDED
    assert not schedule.steps.filter(status=TransitionStep.Status.PENDING).exists()
    assert waiting.status == AllocationRun.Status.SUPERSEDED
    superseded = AuditEntry.objects.get(run=waiting, kind=AuditEntry.Kind.RUN_SUPERSEDED)
    assert superseded.payload["equity_change"] == change.pk
    assert AuditEntry.objects.filter(run=applied, kind=AuditEntry.Kind.SCHEDULE_SUPERSEDED).exists()
    with pytest.raises(ConflictError):
        allocation_run_approve(run=waiting, actor=actor("risk2"), reason="too late")
    assert sum(funds_of(demo).values()) <= Decimal("8000000.00") and audit_verify().ok


def test_a_step_applies_at_the_equity_in_force(demo):
    """A step planned at 10 M and applied once the equity is 12 M invests 12 M, not the run's 10 M
    (the equity is moved under the schedule here, as by a row written before the supersede rule;
    upwards, since PostgreSQL refuses to commit an equity below the funds)."""
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    run = allocation_run_create(portfolio=demo, actor=actor("pm"), request=RebalanceRequest()).run
    step = TransitionSchedule.objects.get(run=run).steps.get(index=2)
    Portfolio.objects.filter(pk=demo.pk).update(total_equity=Decimal("12000000.00"))
    assert transition_step_apply(step_id=step.pk, actor=Actor.system("test"))
    rows = list(AuditEntry.objects.filter(step=step, kind=AuditEntry.Kind.FUND_CHANGE))
    assert rows
    for row in rows:
        weight = step.weights.get(row.strategy_id, step.weights.get(str(row.strategy_id)))
        assert row.new_amount == amounts_for_weights([weight], Decimal("12000000.00"))[0]


def test_a_run_computed_at_another_equity_is_not_approved(demo):
    set_policy(demo, approval_threshold=0.0)
    run = allocation_run_create(portfolio=demo, actor=actor("pm"), request=RebalanceRequest()).run
    before = funds_of(demo)
    Portfolio.objects.filter(pk=demo.pk).update(total_equity=Decimal("12000000.00"))
    with pytest.raises(ConflictError) as err:
        allocation_run_approve(run=run, actor=actor("risk"), reason="looks fine")
    assert err.value.field == "total_equity"
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.PENDING_APPROVAL and funds_of(demo) == before


def test_a_rejected_change_leaves_the_equity(demo):
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal("1"), reason="typo")
    equity_change_reject(change=change, actor=actor("risk2"), reason="a typo")
    demo.refresh_from_db()
    assert demo.total_equity == EQUITY
    assert EquityChange.objects.get().status == EquityChange.Status.REJECTED


def test_a_portfolio_manager_cannot_change_the_equity(demo):
    with pytest.raises(NotPermitted):
        equity_change_request(portfolio=demo, actor=actor("pm"), equity=Decimal("10500000"), reason="more")
    assert not EquityChange.objects.exists() and not _equity_rows(demo).exists()


def test_funds_cannot_be_raised_above_equity_in_small_steps(demo):
    """Issue 8 item 8: a portfolio manager raised total_equity by 10% per rebalance (each under the
    approval threshold) and took funds from 10 M to 13 M on a 10 M portfolio."""
    set_policy(demo, approval_threshold=2.0)
    equity = EQUITY
    for _ in range(3):
        equity = equity * Decimal("1.1")
        with pytest.raises(DomainError) as err:
            allocation_run_create(portfolio=demo, actor=actor("pm"), request=RebalanceRequest(total_equity=equity))
        assert err.value.field == "total_equity"
    assert not AllocationRun.objects.filter(portfolio=demo).exists()
    assert sum(Fund.objects.filter(strategy__portfolio=demo).values_list("amount", flat=True)) <= EQUITY
    # a what-if with another equity writes nothing and stays allowed
    outcome = allocation_run_create(
        portfolio=demo, actor=actor("pm"), request=RebalanceRequest(total_equity=equity, dry_run=True)
    )
    assert outcome.dry_run and outcome.explanation["equity"] == str(equity.quantize(Decimal("0.01")))
