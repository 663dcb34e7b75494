"""A rebalance answers from what it computed and wrote: the same answer as reading the run back
(``run_outcome``), without reading its lines or steps; its phase timings are kept in the run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import AllocationLine, AllocationRun, TransitionStep
from allocations.selectors.portfolios import portfolio_today
from allocations.selectors.runs import run_outcome
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import set_policy

from .conftest import EQUITY


def _reads_of(queries, model, column: str) -> list[str]:
    """SELECTs that fetch ``column`` of ``model``'s rows (the answer's content), not counts or locks."""
    wanted = f'"{model._meta.db_table}"."{column}"'
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and wanted in q["sql"]]


@pytest.mark.parametrize(
    "policy, request_kwargs, status",
    [
        ({"approval_threshold": 2.0}, {}, AllocationRun.Status.APPLIED),
        ({"approval_threshold": 2.0, "transition_period_days": 1, "max_daily_change": 1.0}, {}, "applied"),
        ({"approval_threshold": 0.0}, {}, AllocationRun.Status.PENDING_APPROVAL),
        (
            {"force_rebalance_threshold": 1.0},
            {"trigger": AllocationRun.Trigger.SCHEDULE, "run_date": dt.date(2026, 1, 5)},
            AllocationRun.Status.NO_OP,
        ),
    ],
)
def test_the_answer_is_the_stored_run_without_reading_it_back(demo, users, policy, request_kwargs, status):
    set_policy(demo, **policy)
    with CaptureQueriesContext(connection) as captured:
        outcome = allocation_run_create(
            portfolio=demo,
            actor=Actor.of_user(users["risk"]),
            request=RebalanceRequest(total_equity=EQUITY, **request_kwargs),
        )
    assert outcome.status == status
    assert not _reads_of(captured.captured_queries, TransitionStep, "weights")
    assert not _reads_of(captured.captured_queries, AllocationLine, "target_weight")
    run = AllocationRun.objects.get(pk=outcome.run.pk)
    stored = run_outcome(run=run, today=portfolio_today(demo)).to_response()
    answered = outcome.to_response()
    for key in ("allocation_id", "dry_run", "status", "current_allocation", "target_allocation"):
        assert answered[key] == stored[key], key
    assert answered["transition_schedule"] == stored["transition_schedule"]
    if status == AllocationRun.Status.APPLIED:
        assert answered["transition_schedule"][0]["status"] == TransitionStep.Status.APPLIED
    explained = dict(answered["explanation"])
    assert explained.pop("phase_timings_ms") == run.phase_timings_ms
    assert explained == stored["explanation"]


def test_the_service_records_its_phase_timings_in_the_run(demo, users):
    set_policy(demo, approval_threshold=2.0)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["risk"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    phases = AllocationRun.objects.get(pk=outcome.run.pk).phase_timings_ms
    for name in ("lock_and_replay", "inputs", "returns_panel", "engine", "decide", "run_row", "lines"):
        assert phases[name] >= 0, name
    for name in ("schedule_and_steps", "funds", "funds_audit", "answer", "commit", "total"):
        assert phases[name] >= 0, name
    assert phases["total"] >= sum(v for k, v in phases.items() if k != "total") - 1.0
    dry = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["risk"]), request=RebalanceRequest(dry_run=True)
    )
    assert {"returns_panel", "engine", "answer", "total"} <= set(dry.explanation["phase_timings_ms"])
