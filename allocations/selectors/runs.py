"""Reads of runs: a portfolio's runs and schedules, and a stored run as the rebalance answered it
(its outcome and, while it waits, the steps it plans)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from django.db.models import QuerySet

from allocations import adapters
from allocations.models import AllocationLine, AllocationRun, Portfolio, TransitionSchedule
from allocations.models.fields import STRATEGY_COLUMNS, explanation_rows

from .ordering import newest_first


@dataclass
class RebalanceOutcome:
    """What a rebalance decided: the specification's AllocationResponse plus the explanation."""

    run: AllocationRun | None
    allocation_id: str | None  # None for a dry run: nothing was stored
    status: str
    current_allocation: dict[str, float]
    target_allocation: dict[str, float]
    transition_schedule: list[dict]
    explanation: dict = field(default_factory=dict)
    replayed: bool = False
    dry_run: bool = False

    @classmethod
    def of_run(cls, run: AllocationRun, *, current: dict, target: dict, steps: list[dict], explanation: dict):
        """The outcome of a stored run."""
        return cls(
            run=run,
            allocation_id=str(run.public_id),
            status=run.status,
            current_allocation=current,
            target_allocation=target,
            transition_schedule=steps,
            explanation=explanation,
        )

    def explanation_rows(self) -> dict:
        """The explanation with its per-strategy rows (``strategies``); ``explanation`` itself may hold
        them in the compact form a rebalance builds (``adapters.run_explanation``)."""
        return explanation_rows(self.explanation)

    def to_response(self, *, full_explanation: bool = True) -> dict:
        """The answer; with ``full_explanation=False`` the explanation is its summary (no per-strategy rows)."""
        return {
            "allocation_id": self.allocation_id,
            "dry_run": self.dry_run,
            "status": self.status,
            "current_allocation": self.current_allocation,
            "target_allocation": self.target_allocation,
            "transition_schedule": self.transition_schedule,
            "explanation": self.explanation_rows() if full_explanation else explanation_summary(self.explanation),
        }


def explanation_summary(explanation: dict) -> dict:
    """The run-level facts of an explanation, as rows or in the compact form; the per-strategy rows are
    left out (``run_explanation_rows``)."""
    rows = explanation.get("strategies")
    columns = explanation.get(STRATEGY_COLUMNS)
    summary = {key: value for key, value in explanation.items() if key not in ("strategies", STRATEGY_COLUMNS)}
    if isinstance(rows, dict):
        summary["strategies_explained"] = len(rows)
    elif isinstance(columns, dict):
        summary["strategies_explained"] = len(columns.get("strategy", ()))
    return summary


def run_explanation_rows(
    *, run: AllocationRun, strategies: list[str] | None = None, sectors: list[str] | None = None
) -> list[dict]:
    """The run's per-strategy explanation as rows ``{"strategy": code, "sector": ..., stages...}`` in
    strategy code order, only of the strategies (codes) and sectors asked for, when asked."""
    wanted, in_sectors = set(strategies or ()), set(sectors or ())
    rows = (run.explanation or {}).get("strategies") or {}
    return [
        {"strategy": code, **row}
        for code, row in sorted(rows.items())
        if (not wanted or code in wanted) and (not in_sectors or row.get("sector") in in_sectors)
    ]


def run_outcome(*, run: AllocationRun, today: date) -> RebalanceOutcome:
    """The outcome of a stored run, as the rebalance answered it (and as retries replay it).

    ``today`` is the portfolio's local date: a run waiting for approval answers the steps it
    would take from then on (approval re-plans from the funds as they are at that moment).
    """
    lines = list(run.lines.select_related("strategy").order_by("strategy_id"))
    codes = {line.strategy_id: line.strategy.code for line in lines}
    schedule = TransitionSchedule.objects.filter(run=run).first()
    if schedule is not None:
        steps = [
            {
                "step": step.index,
                "due_date": step.due_date.isoformat(),
                "status": step.status,
                "weights": {codes.get(int(sid), sid): w for sid, w in step.weights.items()},
            }
            for step in schedule.steps.order_by("index")
        ]
    elif run.status == AllocationRun.Status.PENDING_APPROVAL:
        plan = adapters.plan_for_policy(
            run.policy,
            np.array([line.current_weight for line in lines]),
            np.array([line.target_weight for line in lines]),
            force=run.force_rebalance,
        )
        steps = adapters.planned_steps_from([codes[line.strategy_id] for line in lines], plan, today)
    else:
        steps = []
    return RebalanceOutcome.of_run(
        run,
        current={codes[line.strategy_id]: line.current_weight for line in lines},
        target={codes[line.strategy_id]: line.target_weight for line in lines},
        steps=steps,
        explanation=run.explanation,
    )


def run_list(*, portfolio: Portfolio) -> QuerySet[AllocationRun]:
    return newest_first(AllocationRun, portfolio=portfolio, related=("policy", "requested_by", "decided_by"))


def run_get(*, portfolio: Portfolio, public_id: str) -> AllocationRun | None:
    """The run of ``portfolio`` with this allocation id, or None (also for a malformed id)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return run_list(portfolio=portfolio).filter(public_id=key).first()


def run_for_idempotency_key(*, portfolio: Portfolio, key: str, user, label: str) -> AllocationRun | None:
    """The run of ``portfolio`` that this requester (a user, or else an actor label) made with ``key``."""
    runs = AllocationRun.objects.filter(portfolio=portfolio, idempotency_key=key)
    runs = runs.filter(requested_by=user) if user is not None else runs.filter(requested_by=None, requested_via=label)
    return runs.first()


def run_lines(*, run: AllocationRun) -> QuerySet[AllocationLine]:
    return run.lines.select_related("strategy").order_by("strategy__code")


def schedule_list(*, portfolio: Portfolio) -> QuerySet[TransitionSchedule]:
    return newest_first(TransitionSchedule, portfolio=portfolio, related=("run", "closed_by"))


def schedule_get(*, portfolio: Portfolio, schedule_id: int) -> TransitionSchedule | None:
    return schedule_list(portfolio=portfolio).prefetch_related("steps").filter(pk=schedule_id).first()
