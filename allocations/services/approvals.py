"""Four eyes: a run waiting for approval is approved by a risk officer other than its requester
(planned from the funds as they are then, step 1 applied) or rejected; both with a reason.

A run is approved only at the equity it was computed at: its target amounts and the weights of
the funds it started from are fractions of that equity. An equity change supersedes the runs that
wait (``services.equity``); one computed at another equity all the same (written before that rule)
is refused with a 409 naming ``total_equity``, and the requester asks again.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction

from allocations import adapters, money
from allocations.errors import ConflictError
from allocations.models import AllocationRun, AuditEntry
from allocations.selectors.panels import fund_amounts
from allocations.selectors.portfolios import portfolio_today

from .actors import Actor
from .audit import audit_append
from .four_eyes import decision_recorded, not_the_requester, reason_required
from .locks import portfolio_lock
from .schedules import schedule_create_and_apply_first, schedule_supersede_active


def allocation_run_approve(*, run: AllocationRun, actor: Actor, reason: str) -> AllocationRun:
    """A second risk officer approves a run: it is planned from the funds as they are now and step 1 applied."""
    reason_required(reason, "approve a run")
    with transaction.atomic():
        run = _decide(run, actor, AllocationRun.Status.APPLIED, reason)
        portfolio = run.portfolio  # read under the portfolio lock _decide took: the equity in force
        if run.total_equity != portfolio.total_equity:
            raise ConflictError(
                f"the equity changed since this run (computed at {run.total_equity}, now {portfolio.total_equity}); "
                "rebalance again",
                field="total_equity",
            )
        lines = list(run.lines.order_by("strategy_id").values_list("strategy_id", "target_weight"))
        ids = np.array([sid for sid, _ in lines], dtype=np.int64)
        target = np.array([w for _, w in lines], dtype=float)
        amounts = fund_amounts(portfolio=portfolio)
        current, _ = money.weights_of_amounts(ids, amounts, portfolio.total_equity)
        steps = adapters.plan_for_policy(run.policy, current, target, force=run.force_rebalance)
        _audit_decision(run, actor, AuditEntry.Kind.RUN_APPROVED, reason, steps=int(steps.shape[0]))
        schedule_supersede_active(portfolio=portfolio, actor=actor, by_run=run)
        schedule_create_and_apply_first(
            run=run,
            universe_ids=ids,
            steps=steps,
            current=current,
            amounts=amounts,
            actor=actor,
            today=portfolio_today(portfolio),
            equity=portfolio.total_equity,
        )
    return run


def allocation_run_reject(*, run: AllocationRun, actor: Actor, reason: str) -> AllocationRun:
    """Reject a run waiting for approval; no fund moves."""
    reason_required(reason, "reject a run")
    with transaction.atomic():
        run = _decide(run, actor, AllocationRun.Status.REJECTED, reason)
        _audit_decision(run, actor, AuditEntry.Kind.RUN_REJECTED, reason)
    return run


def _decide(run: AllocationRun, actor: Actor, status: str, reason: str) -> AllocationRun:
    """Lock the portfolio and the run, check it still waits and that ``actor`` may decide; record the decision."""
    portfolio_lock(run.portfolio_id)
    run = AllocationRun.objects.select_for_update().select_related("portfolio", "policy").get(pk=run.pk)
    if run.status != AllocationRun.Status.PENDING_APPROVAL:
        raise ConflictError(f"run {run.public_id} is {run.status}, not pending approval", field="status")
    if status == AllocationRun.Status.APPLIED:
        not_the_requester(run, actor, "four eyes: the run must be approved by someone other than its requester")
    run.status = status
    decision_recorded(run, actor, reason)
    return run


def _audit_decision(run: AllocationRun, actor: Actor, kind: str, reason: str, **payload) -> None:
    """The decision's audit entry: the run's allocation id and ``payload`` (the approval's step count)."""
    audit_append(
        portfolio=run.portfolio,
        actor=actor,
        kind=kind,
        run_id=run.pk,
        reason=reason,
        payload={"allocation_id": str(run.public_id), **payload},
    )
