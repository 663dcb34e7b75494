"""The equity is a risk officer's own audited decision; four eyes above the approval threshold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from allocations.errors import ConflictError, DomainError
from allocations.models import AllocationRun, AuditEntry, EquityChange, Fund
from allocations.selectors.core import audit_verify
from allocations.services.actors import Actor
from allocations.services.equity import equity_change_approve, equity_change_reject, equity_change_request
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import set_policy

from .conftest import EQUITY


@pytest.fixture(autouse=True)
def _threshold(demo):
    set_policy(demo, approval_threshold=0.25)


def actor(name: str) -> Actor:
    return Actor.of_user(get_user_model().objects.get(username=name))


def _equity_rows(portfolio):
    return AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.EQUITY_CHANGE).order_by("id")


def test_a_change_within_the_threshold_applies_at_once_and_is_audited(demo):
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal("11000000"), reason="inflow")
    demo.refresh_from_db()
    assert change.status == EquityChange.Status.APPLIED and demo.total_equity == Decimal("11000000.00")
    row = _equity_rows(demo).get()
    assert (row.old_amount, row.new_amount) == (EQUITY, Decimal("11000000.00"))
    assert row.reason == "inflow" and audit_verify().ok


def test_above_the_threshold_it_waits_for_a_second_risk_officer(demo):
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal("13000000"), reason="big inflow")
    demo.refresh_from_db()
    assert change.status == EquityChange.Status.PENDING_APPROVAL and demo.total_equity == EQUITY
    with pytest.raises(ConflictError):
        equity_change_approve(change=change, actor=actor("risk"))
    equity_change_approve(change=change, actor=actor("risk2"), reason="checked the wire")
    demo.refresh_from_db()
    assert demo.total_equity == Decimal("13000000.00")
    assert [r.payload["outcome"] for r in _equity_rows(demo)] == [
        "requested, waiting for a second risk officer",
        "applied",
    ]


def test_a_rejected_change_leaves_the_equity(demo):
    change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=Decimal("1"), reason="typo")
    equity_change_reject(change=change, actor=actor("risk2"), reason="a typo")
    demo.refresh_from_db()
    assert demo.total_equity == EQUITY
    assert EquityChange.objects.get().status == EquityChange.Status.REJECTED


def test_a_portfolio_manager_cannot_change_the_equity(demo):
    with pytest.raises(ConflictError):
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
