"""Transition schedules: planned steps from the current funds to a run's target, applied one by one.

Step 1 is applied with the run (or its approval); later steps fall on the following business
days and are applied by the beat task ``allocations.tasks.apply_due_transition_steps``. Applying a step is
idempotent: it locks the step and acts only while it is still pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import numpy as np
from django.db import transaction

from allocations import db
from allocations.calendar import business_days_from
from allocations.clock import localdate as clock_localdate
from allocations.clock import now as clock_now
from allocations.errors import ConflictError, DomainError
from allocations.models import AllocationRun, AuditEntry, Portfolio, Strategy, TransitionSchedule, TransitionStep
from allocations.models.fields import step_weights_compact
from allocations.money import amounts_for_weights
from allocations.selectors.panels import fund_amounts

from .actors import Actor
from .audit import audit_append
from .funds import funds_set_many
from .locks import portfolio_lock
from .outbox import outbox_step_applied, outbox_target_approved


def _apply_weights(
    *,
    run: AllocationRun,
    step: TransitionStep,
    universe_ids: np.ndarray,
    weights: np.ndarray,
    previous: np.ndarray,
    amounts: dict[int, Decimal],
    actor: Actor,
    funds_known: bool = False,
    codes: Sequence[str] | None = None,
    steps_total: int | None = None,
    clock=None,
    equity: Decimal,
) -> None:
    """Move the funds of the strategies whose weight changes in this step; audit each move.

    ``equity``: the portfolio's equity in force, read under the lock still held (never the run's:
    a step planned before an equity change would invest the old equity).
    ``funds_known``: ``amounts`` is every fund of the portfolio, read under the lock still held.
    ``codes`` (of ``universe_ids``) and ``steps_total``, when known, are not read again for the outbox.
    """
    new_amounts = amounts_for_weights(weights, equity)
    # A strategy retired since the schedule was planned keeps its zero fund (the universe is the
    # portfolio's: its retired strategies are few, where an IN list of every id costs a query plan).
    retired = set(
        Strategy.objects.filter(portfolio_id=run.portfolio_id, status=Strategy.Status.RETIRED).values_list(
            "pk", flat=True
        )
    )
    changed = (np.abs(np.asarray(weights, dtype=float) - np.asarray(previous, dtype=float)) > 1e-15).tolist()
    moving = {
        sid: new_amounts[j]
        for j, sid in enumerate(np.asarray(universe_ids, dtype=np.int64).tolist())
        if sid not in retired and (changed[j] or sid not in amounts)
    }
    funds_set_many(
        portfolio=run.portfolio,
        amounts=moving,
        actor=actor,
        reason=f"run {run.public_id} step {step.index}",
        run_id=run.pk,
        step_id=step.pk,
        known=amounts if funds_known else None,
        clock=clock,
    )
    step.status = TransitionStep.Status.APPLIED
    step.applied_at = clock_now()
    step.applied_by = actor.label[:150]
    step.save(update_fields=["status", "applied_at", "applied_by"])
    # the order-execution system hears of it from the outbox, written in this same transaction
    outbox_step_applied(
        run=run,
        step=step,
        universe_ids=universe_ids,
        weights=weights,
        amounts=new_amounts,
        codes=codes,
        steps_total=steps_total,
    )


def schedule_supersede_active(
    *, portfolio: Portfolio, actor: Actor, by_run: AllocationRun | None = None, reason: str = ""
) -> None:
    """A new applied run (``by_run``), or an equity change (``reason``), replaces the steps left of
    the portfolio's active schedule."""
    active = TransitionSchedule.objects.select_for_update().filter(portfolio=portfolio, status="active").first()
    if active is None:
        return
    left = active.steps.filter(status=TransitionStep.Status.PENDING).update(status=TransitionStep.Status.SUPERSEDED)
    active.status = TransitionSchedule.Status.SUPERSEDED
    active.closed_at = clock_now()
    active.close_reason = f"superseded by run {by_run.public_id}" if by_run is not None else reason
    active.save(update_fields=["status", "closed_at", "close_reason"])
    audit_append(
        portfolio=portfolio,
        actor=actor,
        kind=AuditEntry.Kind.SCHEDULE_SUPERSEDED,
        run_id=active.run_id,
        reason=active.close_reason,
        payload={"schedule": active.pk, "steps_superseded": left},
    )


def schedule_create_and_apply_first(
    *,
    run: AllocationRun,
    universe_ids: np.ndarray,
    steps: np.ndarray,
    current: np.ndarray,
    amounts: dict[int, Decimal],
    actor: Actor,
    today: date,
    funds_known: bool = False,
    codes: Sequence[str] | None = None,
    clock=None,
    equity: Decimal,
) -> TransitionSchedule:
    """Write the schedule of ``run`` (one row of ``steps`` per business day from ``today``, the
    portfolio's local date) and apply step 1 at ``equity``, the portfolio's equity in force.
    ``codes``: the strategies' codes in the order of ``universe_ids``, if the caller has them.
    ``clock`` (a ``engine.LapClock``) times the parts."""
    schedule = TransitionSchedule.objects.create(run=run, portfolio=run.portfolio)
    days = business_days_from(today, steps.shape[0])
    _write_steps(schedule=schedule, universe_ids=universe_ids, steps=steps, days=days)
    first = TransitionStep.objects.defer("weights").get(schedule=schedule, index=1)  # its id; the weights are known
    outbox_target_approved(
        run=run,
        schedule_id=schedule.pk,
        universe_ids=universe_ids,
        target=steps[-1],
        steps_total=steps.shape[0],
        codes=codes,
    )
    if clock is not None:
        clock.lap("schedule_and_steps")
    _apply_weights(
        run=run,
        step=first,
        universe_ids=universe_ids,
        weights=steps[0],
        previous=current,
        amounts=amounts,
        actor=actor,
        funds_known=funds_known,
        codes=codes,
        steps_total=steps.shape[0],
        clock=clock,
        equity=equity,
    )
    if steps.shape[0] == 1:
        _close(schedule, TransitionSchedule.Status.COMPLETED)
    if clock is not None:
        clock.lap("step_1_and_outbox")
    return schedule


def _write_steps(
    *, schedule: TransitionSchedule, universe_ids: np.ndarray, steps: np.ndarray, days: list[date]
) -> None:
    """The schedule's steps, pending; each step's weights in the packed form its field stores
    (``step_weights_compact``: the ids and the weights' float64 bytes, bit for bit)."""
    ids = np.asarray(universe_ids, dtype=np.int64)
    db.bulk_insert(
        TransitionStep,
        [
            {
                "schedule_id": schedule.pk,
                "index": k + 1,
                "due_date": day,
                "weights": step_weights_compact(ids, steps[k]),
                "status": TransitionStep.Status.PENDING.value,
                "applied_at": None,
                "applied_by": "",
            }
            for k, day in enumerate(days)
        ],
    )


def _close(schedule: TransitionSchedule, status: str, *, by=None, reason: str = "") -> None:
    schedule.status = status
    schedule.closed_at = clock_now()
    schedule.closed_by = by
    schedule.close_reason = reason
    schedule.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])


def transition_step_apply(*, step_id: int, actor: Actor) -> bool:
    """Apply one pending step of an active schedule; False if it was already applied or closed."""
    with transaction.atomic():
        step = TransitionStep.objects.select_related("schedule__run").filter(pk=step_id).first()
        if step is None:
            return False
        portfolio = portfolio_lock(step.schedule.portfolio_id)
        step = TransitionStep.objects.select_for_update().select_related("schedule__run__portfolio").get(pk=step_id)
        schedule = step.schedule
        if step.status != TransitionStep.Status.PENDING or schedule.status != TransitionSchedule.Status.ACTIVE:
            return False
        earlier = schedule.steps.filter(index__lt=step.index, status=TransitionStep.Status.PENDING).exists()
        if earlier:
            return False  # steps apply in order; the earlier one goes first
        previous = schedule.steps.filter(index=step.index - 1).first()
        ids = list(step.weights)
        weights = np.array([step.weights[i] for i in ids], dtype=float)
        if previous is not None:
            prev = np.array([previous.weights.get(i, 0.0) for i in ids], dtype=float)
        else:
            prev = np.full_like(weights, -1.0)  # no earlier step: everything moves
        _apply_weights(
            run=schedule.run,
            step=step,
            universe_ids=np.array([int(i) for i in ids]),
            weights=weights,
            previous=prev,
            amounts=fund_amounts(portfolio=schedule.portfolio),
            actor=actor,
            equity=portfolio.total_equity,
        )
        if not schedule.steps.filter(status=TransitionStep.Status.PENDING).exists():
            _close(schedule, TransitionSchedule.Status.COMPLETED)
        return True


def transition_steps_due(*, today=None) -> list[int]:
    """Ids of the pending steps of active schedules that are due, oldest first."""
    today = today or clock_localdate()
    return list(
        TransitionStep.objects.filter(
            status=TransitionStep.Status.PENDING, due_date__lte=today, schedule__status=TransitionSchedule.Status.ACTIVE
        )
        .order_by("schedule_id", "index")
        .values_list("pk", flat=True)
    )


def transition_schedule_cancel(*, schedule: TransitionSchedule, actor: Actor, reason: str) -> TransitionSchedule:
    """Stop an active schedule: its pending steps are cancelled; funds stay where they are."""
    if not reason or not str(reason).strip():
        raise DomainError("a reason is required to cancel a schedule", field="reason")
    with transaction.atomic():
        portfolio_lock(schedule.portfolio_id)
        schedule = TransitionSchedule.objects.select_for_update().get(pk=schedule.pk)
        if schedule.status != TransitionSchedule.Status.ACTIVE:
            raise ConflictError(f"schedule {schedule.pk} is {schedule.status}, not active", field="status")
        cancelled = schedule.steps.filter(status=TransitionStep.Status.PENDING).update(
            status=TransitionStep.Status.CANCELLED
        )
        _close(schedule, TransitionSchedule.Status.CANCELLED, by=actor.user, reason=reason)
        audit_append(
            portfolio=schedule.portfolio,
            actor=actor,
            kind=AuditEntry.Kind.SCHEDULE_CANCELLED,
            run_id=schedule.run_id,
            reason=reason,
            payload={"schedule": schedule.pk, "steps_cancelled": cancelled},
        )
    return schedule
