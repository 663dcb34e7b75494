"""Rebalancing: one allocation run from request to funds moved, in one transaction.

    lock the portfolio -> replay an idempotency key -> load the inputs -> ``engine.allocate``
    -> decide (applied, pending approval, no-op) -> persist (run, lines, audit, schedule, step 1)

The answer is built from what was computed and written, never read back.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction

from allocations import adapters, engine
from allocations.errors import ConflictError, DomainError
from allocations.models import AllocationRun, Portfolio, TransitionStep
from allocations.models.idempotency import MAX_KEY_LENGTH
from allocations.selectors.portfolios import portfolio_today
from allocations.selectors.runs import RebalanceOutcome, run_for_idempotency_key, run_outcome

from .actors import Actor
from .locks import portfolio_lock
from .run_inputs import RebalanceRequest, RunInputs, run_inputs_load
from .run_records import RunDecision, allocation_run_record

__all__ = ["RebalanceOutcome", "RebalanceRequest", "allocation_run_create"]


def allocation_run_create(*, portfolio: Portfolio, actor: Actor, request: RebalanceRequest) -> RebalanceOutcome:
    """Decide and (unless dry run or waiting for approval) start carrying out a rebalance.

    A second rebalance of the same portfolio waits for the first to commit, then starts from the funds
    as they are. A dry run computes everything and writes nothing. A run whose turnover exceeds the
    policy's approval threshold waits, moving nothing, for a risk officer other than the requester
    (``services.approvals``). The phase timings are kept in the run (``phase_timings_ms``, commit
    included) and in the answer's explanation.
    """
    if request.idempotency_key is not None and len(request.idempotency_key) > MAX_KEY_LENGTH:
        raise DomainError(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    clock = engine.LapClock(decimals=2)
    with transaction.atomic():
        if not request.dry_run:  # a dry run reads one consistent snapshot and takes no lock
            portfolio = portfolio_lock(portfolio.pk)
            replay = _replay(portfolio, actor, request.idempotency_key)
            if replay is not None:
                return replay
            clock.lap("lock_and_replay")
        inputs = run_inputs_load(portfolio=portfolio, actor=actor, request=request, clock=clock)
        digest = _inputs_digest(inputs, request)
        if request.previewed_digest is not None and request.previewed_digest != digest:
            raise ConflictError(
                "the data changed since the preview (returns, funds, policy or signals): preview again",
                field="inputs_digest",
            )
        result = _allocate(inputs, request)
        clock.lap("engine")
        decision = _decide(inputs, result, request, digest)
        clock.lap("decide")
        if request.dry_run:
            outcome = _dry_run_outcome(inputs, result, decision)
            clock.lap("answer")
            clock.total()
            outcome.explanation["phase_timings_ms"] = clock.ms
            return outcome
        run = allocation_run_record(
            portfolio=portfolio,
            actor=actor,
            request=request,
            inputs=inputs,
            result=result,
            decision=decision,
            clock=clock,
        )
        outcome = _recorded_outcome(run, inputs, result, decision)
        clock.lap("answer")
    clock.lap("commit")
    clock.total()
    AllocationRun.objects.filter(pk=run.pk).update(phase_timings_ms=clock.ms)  # a small row update after the commit
    outcome.explanation = {**outcome.explanation, "phase_timings_ms": clock.ms}
    return outcome


def _recorded_outcome(
    run: AllocationRun, inputs: RunInputs, result: engine.AllocationResult, decision: RunDecision
) -> RebalanceOutcome:
    """The answer of a run just written, from what was written (``run_outcome`` reads the same back)."""
    codes = inputs.universe.codes
    current = np.clip(inputs.current, 0.0, 1.0)  # as the lines store them
    target = np.clip(result.target_weights, 0.0, 1.0)
    if decision.status == AllocationRun.Status.APPLIED:
        steps = adapters.planned_steps_from(codes, result.schedule, inputs.today)
        for step in steps:
            step["status"] = TransitionStep.Status.APPLIED if step["step"] == 1 else TransitionStep.Status.PENDING
    elif decision.status == AllocationRun.Status.PENDING_APPROVAL:
        plan = adapters.plan_for_policy(inputs.policy, current, target, force=run.force_rebalance)
        steps = adapters.planned_steps_from(codes, plan, inputs.today)
    else:
        steps = []
    return RebalanceOutcome.of_run(
        run,
        current=adapters.by_code(codes, current),
        target=adapters.by_code(codes, target),
        steps=steps,
        explanation=decision.explanation,
    )


def _replay(portfolio: Portfolio, actor: Actor, key: str | None) -> RebalanceOutcome | None:
    """The run this requester already made with this idempotency key, answered again.

    Keys are scoped to the requester (and the portfolio), as payment APIs scope them: another
    user's run is never answered for my key.
    """
    if not key:
        return None
    existing = run_for_idempotency_key(portfolio=portfolio, key=key, user=actor.user, label=actor.label)
    if existing is None:
        return None
    outcome = run_outcome(run=existing, today=portfolio_today(portfolio))
    outcome.replayed = True
    return outcome


def _allocate(inputs: RunInputs, request: RebalanceRequest) -> engine.AllocationResult:
    try:
        return engine.allocate(
            inputs.panel,
            inputs.universe.sectors,
            policy=adapters.engine_policy(inputs.policy, method=inputs.method),
            current_weights=inputs.current,
            signals=[{k: s[k] for k in ("sector", "action", "confidence")} for s in inputs.signals],
            previous=inputs.previous,
            budgets=inputs.universe.budgets,
            force_rebalance=bool(request.force_rebalance),
            sharpe_override=inputs.sharpe_override,
            volatility_override=inputs.volatility_override,
            age_days=inputs.age_days,
        )
    except engine.InsufficientDataError as exc:
        raise DomainError(str(exc), field="returns") from None
    except engine.EngineError as exc:
        raise DomainError(str(exc), field="request") from None


def _inputs_digest(inputs: RunInputs, request: RebalanceRequest) -> str:
    """What the run computes from: policy version, method, options, equity, returns, funds, signals."""
    return adapters.inputs_digest(
        inputs.policy.pk,
        inputs.method,
        str(inputs.equity),
        inputs.universe.ids,
        [d.isoformat() for d in inputs.dates],
        _finite(inputs.panel),
        inputs.current,
        sorted((s["sector"], s["action"], s["confidence"]) for s in inputs.signals),
        inputs.sharpe_override,
        inputs.volatility_override,
        bool(request.force_rebalance),
    )


def _decide(inputs: RunInputs, result: engine.AllocationResult, request: RebalanceRequest, digest: str) -> RunDecision:
    """Status, turnover and explanation of the run (``digest``: ``_inputs_digest`` of its inputs)."""
    policy = inputs.policy
    turnover = float(np.abs(result.target_weights - inputs.current).sum())
    explanation = adapters.run_explanation(
        result,
        inputs.universe.codes,
        inputs.universe.sectors,
        {
            "equity": str(inputs.equity),
            "weight_basis": inputs.weight_basis,
            "returns_window": {
                "first": inputs.dates[0].isoformat() if inputs.dates else None,
                "last": inputs.dates[-1].isoformat() if inputs.dates else None,
                "days": len(inputs.dates),
            },
            "signals": inputs.signals,
            "approval_threshold": policy.approval_threshold,
            "policy_version": policy.version,
            "inputs_digest": digest,
        },
    )
    needs_approval = turnover > policy.approval_threshold + 1e-12
    if (
        request.trigger == AllocationRun.Trigger.SCHEDULE
        and not request.force_rebalance
        and turnover < policy.force_rebalance_threshold
    ):
        status = AllocationRun.Status.NO_OP
    elif needs_approval:
        status = AllocationRun.Status.PENDING_APPROVAL
    else:
        status = AllocationRun.Status.APPLIED
    return RunDecision(
        status=status, turnover=turnover, needs_approval=needs_approval, digest=digest, explanation=explanation
    )


def _finite(panel: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(panel, nan=-9.0)`` for the digest, without copying a panel that has no NaN or inf."""
    return panel if np.isfinite(panel).all() else np.nan_to_num(panel, nan=-9.0)


def _dry_run_outcome(inputs: RunInputs, result: engine.AllocationResult, decision: RunDecision) -> RebalanceOutcome:
    codes = inputs.universe.codes
    return RebalanceOutcome(
        run=None,
        allocation_id=None,
        dry_run=True,
        status=AllocationRun.Status.COMPUTED,
        current_allocation=adapters.by_code(codes, inputs.current),
        target_allocation=adapters.by_code(codes, result.target_weights),
        transition_schedule=adapters.planned_steps_from(codes, result.schedule, inputs.today),
        explanation={**decision.explanation, "dry_run": True, "would_need_approval": decision.needs_approval},
    )
