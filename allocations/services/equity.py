"""A portfolio's equity changes only by its own audited decision of two risk officers.

Funds are fractions of the equity, so changing it moves money as surely as a rebalance does. Every
change waits for a second risk officer: a threshold on the size of one change let one officer go
10 M -> 19.2 M in three requests each below it. A newer request supersedes the one that waited.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from accounts import roles
from allocations.errors import ConflictError, DomainError, NotPermitted
from allocations.models import AllocationRun, AuditEntry, EquityChange, Portfolio
from allocations.money import CENT, MAX_AMOUNT
from allocations.selectors.panels import fund_amounts

from .actors import Actor
from .audit import audit_append
from .four_eyes import decision_recorded, not_the_requester, reason_required
from .funds import funds_scale_to_equity
from .locks import portfolio_lock
from .outbox import outbox_funds_scaled
from .run_records import allocation_runs_supersede
from .schedules import schedule_supersede_active


def may_decide_equity(actor: Actor, portfolio: Portfolio) -> bool:
    """Risk officers (and administrators) of the portfolio decide its equity."""
    return actor.user is not None and actor.user.has_perm(f"allocations.{roles.MANAGE_POLICY}", portfolio)


def equity_change_request(*, portfolio: Portfolio, actor: Actor, equity: Decimal, reason: str) -> EquityChange:
    """Ask for a new equity: it waits for a second risk officer, whatever its size."""
    if not may_decide_equity(actor, portfolio):
        raise NotPermitted("only a risk officer of the portfolio changes its equity", field="total_equity")
    reason_required(reason, "change the equity")
    equity = Decimal(equity).quantize(CENT)
    if equity <= 0 or equity >= MAX_AMOUNT:
        raise DomainError(f"total_equity must be in (0, {MAX_AMOUNT:,.0f}), got {equity}", field="total_equity")
    with transaction.atomic():
        portfolio = portfolio_lock(portfolio.pk)
        old = portfolio.total_equity
        if equity == old:
            raise DomainError(f"the equity is already {old}", field="total_equity")
        _supersede_waiting(portfolio, actor)
        change = EquityChange.objects.create(
            portfolio=portfolio,
            old_equity=old,
            new_equity=equity,
            reason=reason,
            requested_by=actor.user,
            status=EquityChange.Status.PENDING_APPROVAL,
        )
        _audit(change, actor, reason, "proposed")
        return change


def equity_change_approve(*, change: EquityChange, actor: Actor, reason: str) -> EquityChange:
    """A second risk officer approves a waiting change: the equity becomes the requested one."""
    reason_required(reason, "approve an equity change")
    with transaction.atomic():
        change, portfolio = _lock_waiting(change, actor)
        not_the_requester(change, actor, "four eyes: someone other than its requester approves an equity change")
        if portfolio.total_equity != change.old_equity:
            raise ConflictError(
                f"the equity changed to {portfolio.total_equity} since this request; ask again", field="total_equity"
            )
        change.status = EquityChange.Status.APPLIED
        decision_recorded(change, actor, reason)
        _apply(change, portfolio, actor, reason)
        return change


def equity_change_reject(*, change: EquityChange, actor: Actor, reason: str) -> EquityChange:
    """Reject a waiting change; the equity stays."""
    reason_required(reason, "reject an equity change")
    with transaction.atomic():
        change, _ = _lock_waiting(change, actor)
        change.status = EquityChange.Status.REJECTED
        decision_recorded(change, actor, reason)
        _audit(change, actor, reason, "rejected")
        return change


def _lock_waiting(change: EquityChange, actor: Actor) -> tuple[EquityChange, Portfolio]:
    portfolio = portfolio_lock(change.portfolio_id)
    if not may_decide_equity(actor, portfolio):
        raise NotPermitted("only a risk officer of the portfolio decides its equity", field="approved_by")
    change = EquityChange.objects.select_for_update().get(pk=change.pk)
    if change.status != EquityChange.Status.PENDING_APPROVAL:
        raise ConflictError(f"equity change {change.pk} is {change.status}, not pending approval", field="status")
    return change, portfolio


def _apply(change: EquityChange, portfolio: Portfolio, actor: Actor, reason: str) -> None:
    """The equity in force becomes the new one; what was planned at the old one is superseded and
    funds above the new one come down with it, all in the caller's transaction (under the lock).

    Superseded: the active schedule's steps left and every run waiting for approval (their amounts
    were computed from the old equity). A new equity below what is invested scales every fund down
    (``funds_scale_to_equity``), so the funds never stay above it, and writes a ``portfolio.funds_scaled``
    outbox event for the order-execution system."""
    portfolio.total_equity = change.new_equity
    portfolio.save(update_fields=["total_equity"])
    _audit(change, actor, reason, "applied")
    superseded = f"superseded by equity change {change.pk} ({change.old_equity} -> {change.new_equity})"
    schedule_supersede_active(portfolio=portfolio, actor=actor, reason=superseded)
    allocation_runs_supersede(
        runs=list(
            AllocationRun.objects.filter(portfolio=portfolio, status=AllocationRun.Status.PENDING_APPROVAL).defer(
                "explanation"
            )
        ),
        portfolio=portfolio,
        actor=actor,
        reason=superseded,
        superseded_by={"equity_change": change.pk},
    )
    scaled = funds_scale_to_equity(
        portfolio=portfolio, equity=change.new_equity, actor=actor, reason=f"equity change {change.pk}: {reason}"
    )
    if scaled:  # the order-execution system hears of it as of a step: from the outbox, in this transaction
        outbox_funds_scaled(
            portfolio=portfolio,
            equity_change_id=change.pk,
            equity=change.new_equity,
            amounts=fund_amounts(portfolio=portfolio),
        )


def _supersede_waiting(portfolio: Portfolio, actor: Actor) -> None:
    for waiting in EquityChange.objects.filter(portfolio=portfolio, status=EquityChange.Status.PENDING_APPROVAL):
        waiting.status = EquityChange.Status.SUPERSEDED
        decision_recorded(waiting, actor, "superseded by a newer request")
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
