"""Persisting a decided run: at most one run of a portfolio waits for approval."""

from __future__ import annotations

from allocations.models import AllocationRun, AuditEntry
from allocations.selectors.core import audit_verify
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
