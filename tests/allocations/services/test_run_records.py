"""Persisting a decided run: at most one run of a portfolio waits for approval."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from allocations.models import AllocationLine, AllocationRun, AuditEntry
from allocations.selectors.audit import audit_verify
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import set_policy


def test_a_new_pending_run_supersedes_the_older_pending_run(demo, users):
    """Issue 8 item 15: five identical requests left five pending runs."""
    set_policy(demo, approval_threshold=0.0)
    pm = Actor.of_user(users["pm"])
    runs = [allocation_run_create(portfolio=demo, actor=pm, request=RebalanceRequest()).run for _ in range(5)]
    statuses = [AllocationRun.objects.get(pk=run.pk).status for run in runs]
    assert statuses == [AllocationRun.Status.SUPERSEDED] * 4 + [AllocationRun.Status.PENDING_APPROVAL]
    superseded = AuditEntry.objects.filter(portfolio=demo, kind=AuditEntry.Kind.RUN_SUPERSEDED)
    assert sorted(superseded.values_list("run_id", flat=True)) == sorted(run.pk for run in runs[:4])
    for row in superseded:
        assert str(runs[runs.index(next(r for r in runs if r.pk == row.run_id)) + 1].public_id) in row.reason
    assert AllocationRun.objects.filter(portfolio=demo, status=AllocationRun.Status.PENDING_APPROVAL).count() == 1
    assert audit_verify().ok


def test_the_lines_store_every_stage_bit_for_bit(demo, users):
    """The lines (streamed as COPY text on PostgreSQL) hold the engine's doubles exactly, and its flags and limits."""
    set_policy(demo, approval_threshold=2.0)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(allocation_method="risk_parity")
    )
    rows = outcome.explanation_rows()["strategies"]
    lines = list(AllocationLine.objects.filter(run=outcome.run).select_related("strategy"))
    assert len(lines) == len(rows) == len(outcome.target_allocation)
    for line in lines:
        row = rows[line.strategy.code]
        assert line.target_weight == outcome.target_allocation[line.strategy.code] == row["final"]
        assert line.current_weight == outcome.current_allocation[line.strategy.code]
        stages = (line.base_weight, line.signal_weight, line.smoothed_weight)
        assert stages == (row["base"], row["after_signals"], row["after_smoothing"])
        assert (line.binding_limit, line.limit_excess, line.flags) == (
            row["binding_limit"],
            row["binding_amount"],
            row["flags"],
        )
        assert line.risk_contribution == (row["risk_contribution"] or 0.0)
        assert line.target_amount == (Decimal(repr(line.target_weight)) * outcome.run.total_equity).quantize(
            Decimal("0.01"), ROUND_DOWN
        )
