"""A portfolio's equity changes only by its own audited decision of a risk officer.

Funds are fractions of the equity, so raising it moves money as surely as a rebalance does. A
change within the policy's approval threshold (as a fraction of the current equity) applies at
once; above it, it waits for a second risk officer, exactly like a run (four eyes). Every step
is audited with the old and the new equity; a newer request supersedes the one that waited.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from accounts import roles
from allocations import clock
from allocations.errors import ConflictError, DomainError
from allocations.models import AuditEntry, EquityChange, Portfolio
from allocations.selectors.core import policy_current

from .actors import Actor
from .audit import audit_append
from .funds import MAX_AMOUNT
from .locks import portfolio_lock

CENT = Decimal("0.01")


def may_decide_equity(actor: Actor, portfolio: Portfolio) -> bool:
    """Risk officers (and administrators) of the portfolio decide its equity."""
    return actor.user is not None and actor.user.has_perm(f"allocations.{roles.MANAGE_POLICY}", portfolio)


def equity_change_request(*, portfolio: Portfolio, actor: Actor, equity: Decimal, reason: str) -> EquityChange:
    """Ask for a new equity: applied at once within the approval threshold, else pending a second officer."""
    if not may_decide_equity(actor, portfolio):
        raise ConflictError("only a risk officer of the portfolio changes its equity", field="total_equity")
    if not reason or not reason.strip():
        raise DomainError("a reason is required to change the equity", field="reason")
    equity = Decimal(equity).quantize(CENT)
    if equity <= 0 or equity >= MAX_AMOUNT:
        raise DomainError(f"total_equity must be in (0, {MAX_AMOUNT:,.0f}), got {equity}", field="total_equity")
    with transaction.atomic():
        portfolio = portfolio_lock(portfolio.pk)
        old = portfolio.total_equity
        if equity == old:
            raise DomainError(f"the equity is already {old}", field="total_equity")
        _supersede_waiting(portfolio, actor)
        policy = policy_current(portfolio=portfolio)
        threshold = Decimal(str(policy.approval_threshold if policy else 0.25))
        needs_approval = old <= 0 or abs(equity - old) > threshold * old
        change = EquityChange.objects.create(
            portfolio=portfolio,
            old_equity=old,
            new_equity=equity,
            reason=reason,
            requested_by=actor.user,
            status=EquityChange.Status.PENDING_APPROVAL if needs_approval else EquityChange.Status.APPLIED,
        )
        if needs_approval:
            _audit(change, actor, reason, "requested, waiting for a second risk officer")
        else:
            _apply(change, portfolio, actor, reason)
        return change


def equity_change_approve(*, change: EquityChange, actor: Actor, reason: str = "") -> EquityChange:
    """A second risk officer approves a waiting change: the equity becomes the requested one."""
    with transaction.atomic():
        change, portfolio = _lock_waiting(change, actor)
        if change.requested_by_id == actor.user.pk:
            raise ConflictError(
                "four eyes: someone other than its requester approves an equity change", field="approved_by"
            )
        if portfolio.total_equity != change.old_equity:
            raise ConflictError(
                f"the equity changed to {portfolio.total_equity} since this request; ask again", field="total_equity"
            )
        change.status = EquityChange.Status.APPLIED
        _decided(change, actor, reason)
        _apply(change, portfolio, actor, reason or "approved")
        return change


def equity_change_reject(*, change: EquityChange, actor: Actor, reason: str) -> EquityChange:
    """Reject a waiting change; the equity stays."""
    if not reason or not reason.strip():
        raise DomainError("a reason is required to reject an equity change", field="reason")
    with transaction.atomic():
        change, _ = _lock_waiting(change, actor)
        change.status = EquityChange.Status.REJECTED
        _decided(change, actor, reason)
        _audit(change, actor, reason, "rejected")
        return change


def _lock_waiting(change: EquityChange, actor: Actor) -> tuple[EquityChange, Portfolio]:
    portfolio = portfolio_lock(change.portfolio_id)
    if not may_decide_equity(actor, portfolio):
        raise ConflictError("only a risk officer of the portfolio decides its equity", field="approved_by")
    change = EquityChange.objects.select_for_update().get(pk=change.pk)
    if change.status != EquityChange.Status.PENDING_APPROVAL:
        raise ConflictError(f"equity change {change.pk} is {change.status}, not pending approval", field="status")
    return change, portfolio


def _decided(change: EquityChange, actor: Actor, reason: str) -> None:
    change.decided_by = actor.user
    change.decided_at = clock.now()
    change.decision_reason = reason
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])


def _apply(change: EquityChange, portfolio: Portfolio, actor: Actor, reason: str) -> None:
    portfolio.total_equity = change.new_equity
    portfolio.save(update_fields=["total_equity"])
    _audit(change, actor, reason, "applied")


def _supersede_waiting(portfolio: Portfolio, actor: Actor) -> None:
    for waiting in EquityChange.objects.filter(portfolio=portfolio, status=EquityChange.Status.PENDING_APPROVAL):
        waiting.status = EquityChange.Status.SUPERSEDED
        _decided(waiting, actor, "superseded by a newer request")
        _audit(waiting, actor, "superseded by a newer request", "superseded")


def _audit(change: EquityChange, actor: Actor, reason: str, outcome: str) -> None:
    audit_append(
        portfolio=change.portfolio,
        actor=actor,
        kind=AuditEntry.Kind.EQUITY_CHANGE,
        reason=reason,
        old_amount=change.old_equity,
        new_amount=change.new_equity,
        payload={"equity_change": change.pk, "outcome": outcome, "status": change.status},
    )
