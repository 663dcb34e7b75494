"""Writing a decided run: the run row, one line per strategy, its audit row and, when applied,
the transition schedule with step 1 carried out. Called inside the rebalance's transaction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocations import db, engine
from allocations.clock import now as clock_now
from allocations.models import AllocationRun, AuditEntry, Portfolio
from allocations.money import amounts_for_weights

from .actors import Actor
from .audit import audit_append
from .run_inputs import RebalanceRequest, RunInputs
from .schedules import schedule_create_and_apply_first, schedule_supersede_active


@dataclass(frozen=True)
class RunDecision:
    status: str
    turnover: float
    needs_approval: bool
    digest: str
    explanation: dict


def allocation_run_record(
    *,
    portfolio: Portfolio,
    actor: Actor,
    request: RebalanceRequest,
    inputs: RunInputs,
    result: engine.AllocationResult,
    decision: RunDecision,
    clock=None,
) -> AllocationRun:
    """Persist the run; an applied run supersedes the active schedule and moves step 1's funds, a
    pending one supersedes the run that waited before it (at most one run waits for approval).

    ``clock`` (a ``engine.LapClock``), if given, times the run row, its lines and the schedule apart.
    """
    lap = clock.lap if clock is not None else (lambda name: None)
    explanation = decision.explanation
    pending = AllocationRun.objects.filter(portfolio=portfolio, status=AllocationRun.Status.PENDING_APPROVAL)
    waiting = list(pending.defer("explanation"))  # its explanation is megabytes at 10,000 strategies
    run = AllocationRun.objects.create(
        portfolio=portfolio,
        policy=inputs.policy,
        method=inputs.method,
        trigger=request.trigger,
        requested_by=actor.user,
        requested_via=actor.label[:100],
        run_date=request.run_date,
        idempotency_key=request.idempotency_key or None,
        inputs_digest=decision.digest,
        total_equity=inputs.equity,
        force_rebalance=bool(request.force_rebalance),
        status=decision.status,
        turnover=min(decision.turnover, 2.0),
        cash_weight=min(max(float(result.cash), 0.0), 1.0),
        ex_ante_volatility=explanation["ex_ante_volatility"],
        effective_strategies=explanation["effective_number_of_strategies"],
        explanation=explanation,
    )
    lap("run_row")
    _write_lines(run=run, inputs=inputs, result=result)
    lap("lines")
    audit_append(
        portfolio=portfolio,
        actor=actor,
        kind=AuditEntry.Kind.RUN_CREATED,
        run_id=run.pk,
        reason=f"rebalance requested ({request.trigger})",
        payload={
            "allocation_id": str(run.public_id),
            "method": inputs.method,
            "status": decision.status,
            "turnover": round(decision.turnover, 12),
            "equity": str(inputs.equity),
            "inputs_digest": decision.digest,
        },
    )
    if decision.status == AllocationRun.Status.PENDING_APPROVAL:
        _supersede_pending(waiting, by_run=run, actor=actor)
    lap("run_audit")
    if decision.status == AllocationRun.Status.APPLIED:
        schedule_supersede_active(portfolio=portfolio, actor=actor, by_run=run)
        schedule_create_and_apply_first(
            run=run,
            universe_ids=inputs.universe.ids,
            steps=result.schedule,
            current=inputs.current,
            amounts=inputs.amounts,
            actor=actor,
            today=inputs.today,
            funds_known=True,  # read by run_inputs_load under the portfolio lock this transaction holds
            codes=inputs.universe.codes,
            clock=clock,
            equity=portfolio.total_equity,  # the run's own: a run at another equity is refused (run_inputs)
        )
    return run


def _supersede_pending(runs: list[AllocationRun], *, by_run: AllocationRun, actor: Actor) -> None:
    allocation_runs_supersede(
        runs=runs,
        portfolio=by_run.portfolio,
        actor=actor,
        reason=f"superseded by run {by_run.public_id}",
        superseded_by={"superseded_by": str(by_run.public_id)},
    )


def allocation_runs_supersede(
    *, runs: list[AllocationRun], portfolio: Portfolio, actor: Actor, reason: str, superseded_by: dict
) -> None:
    """Runs waiting for approval that no one may approve any more (a newer run, another equity):
    status ``superseded``, audited with ``superseded_by`` in the payload. Under the portfolio lock."""
    for run in runs:
        run.status = AllocationRun.Status.SUPERSEDED
        run.decided_at = clock_now()
        run.decision_reason = reason
        run.save(update_fields=["status", "decided_at", "decision_reason"])
        audit_append(
            portfolio=portfolio,
            actor=actor,
            kind=AuditEntry.Kind.RUN_SUPERSEDED,
            run_id=run.pk,
            reason=reason,
            payload={"allocation_id": str(run.public_id), **superseded_by},
        )


def _write_lines(*, run: AllocationRun, inputs: RunInputs, result: engine.AllocationResult) -> None:
    """One line per strategy, written as columns (``db.allocation_lines_insert``)."""
    ids = inputs.universe.ids
    columns = {
        "run": [run.pk] * len(ids),
        "strategy": ids.tolist(),
        "current_weight": np.clip(inputs.current, 0.0, 1.0).tolist(),
        "base_weight": result.base_weights.tolist(),
        "signal_weight": result.signal_weights.tolist(),
        "smoothed_weight": result.smoothed_weights.tolist(),
        "target_weight": np.clip(result.target_weights, 0.0, 1.0).tolist(),
        "target_amount": amounts_for_weights(result.target_weights, inputs.equity),
        "momentum_weight": np.where(np.isnan(result.momentum_weights), None, result.momentum_weights).tolist(),
        "risk_contribution": np.nan_to_num(result.risk_contributions, nan=0.0).tolist(),
        "binding_limit": [str(v) for v in result.binding_limit.tolist()],
        "limit_excess": result.binding_amount.tolist(),
        "flags": [[str(flag)] if flag else [] for flag in result.flags.tolist()],
    }
    db.allocation_lines_insert(columns)
