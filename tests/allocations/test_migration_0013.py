"""Migration 0013 on a database holding audit chains: each existing row gets its chain position
(1..n in id order per portfolio) although the append-only trigger refuses UPDATE, the trigger is in
force afterwards, and the chains keep verifying; back to 0012 the hash constraints return."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from allocations.audit_chain import GENESIS_HASH, ChainHasher, audit_key, canonical_content, head_signature

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("allocations", "0012_bulk_rows_without_fk_checks")]
AFTER = [("allocations", "0013_audit_chain_position")]
TABLE = "allocations_auditentry"


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh graph: the state the database is in now


def _chains_written_before_0013(apps, plan: list[str]) -> dict[str, int]:
    """Keyed rows and signed heads as the code of 0012 wrote them; ``plan`` names each row's portfolio in id order."""
    Portfolio = apps.get_model("allocations", "Portfolio")
    portfolios = {slug: Portfolio.objects.create(slug=slug, name=slug) for slug in dict.fromkeys(plan)}
    AuditEntry = apps.get_model("allocations", "AuditEntry")
    AuditChainHead = apps.get_model("allocations", "AuditChainHead")
    hasher, key = ChainHasher(audit_key()), audit_key()
    tails = {slug: (0, GENESIS_HASH) for slug in portfolios}
    for i, slug in enumerate(plan):
        row = dict(
            portfolio_id=portfolios[slug].pk, kind="data_import", created_at=timezone.now(), strategy_id=None,
            run_id=None, step_id=None, old_amount=None, new_amount=None, total_capital=None, actor_id=None,
            actor_label="command:legacy", reason=f"r{i}", payload={},
        )  # fmt: skip
        count, prev = tails[slug]
        entry_hash = hasher(canonical_content(**row), prev)
        AuditEntry.objects.create(prev_hash=prev, entry_hash=entry_hash, **row)
        tails[slug] = (count + 1, entry_hash)
    for slug, (count, last) in tails.items():
        pk = portfolios[slug].pk
        signature = head_signature(key, portfolio_id=pk, count=count, last_hash=last, legacy_count=0)
        AuditChainHead.objects.create(portfolio_id=pk, count=count, last_hash=last, legacy_count=0, signature=signature)
    return {slug: count for slug, (count, _) in tails.items()}


def _constraints() -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, TABLE)


def _update_is_refused() -> None:
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = 'rewritten'")


def test_0013_numbers_existing_chains_and_keeps_the_trail_append_only():
    from allocations.models import AuditEntry, Portfolio
    from allocations.selectors.audit import audit_verify
    from allocations.services.actors import Actor
    from allocations.services.audit import AuditRecord, audit_append

    executor = _migrate(BEFORE)
    try:
        counts = _chains_written_before_0013(
            executor.loader.project_state(BEFORE).apps, ["p1", "p2", "p1", "p1", "p2", "p3", "p1"]
        )
        assert {"audit_chain_no_fork", "audit_entry_hash_unique"} <= set(_constraints())

        executor = _migrate(AFTER)
        at_0013 = executor.loader.project_state(AFTER).apps.get_model("allocations", "AuditEntry")
        for slug, count in counts.items():
            rows = at_0013.objects.filter(portfolio__slug=slug).order_by("id")
            assert list(rows.values_list("seq", flat=True)) == list(range(1, count + 1)), slug
        constraints = _constraints()
        assert "audit_chain_position_unique" in constraints
        assert not {"audit_chain_no_fork", "audit_entry_hash_unique"} & set(constraints)
        _update_is_refused()

        # Today's code on the rows 0013 numbered: the later migrations leave them as they were
        # (0017: no recorded_at claimed for rows recorded before it), and the trail goes on.
        executor = _migrate(executor.loader.graph.leaf_nodes())
        assert set(AuditEntry.objects.values_list("recorded_at", flat=True)) == {None}
        _update_is_refused()
        result = audit_verify()
        assert result.ok and result.checked == 7
        with transaction.atomic():
            appended = audit_append(
                portfolio=Portfolio.objects.get(slug="p2"),
                actor=Actor.command("test"),
                record=AuditRecord(kind="data_import"),
            )
        assert appended.seq == 3 and audit_verify().ok
        assert AuditEntry.objects.get(pk=appended.pk).recorded_at is not None

        executor = _migrate(BEFORE)
        constraints = _constraints()
        assert {"audit_chain_no_fork", "audit_entry_hash_unique"} <= set(constraints)
        assert "audit_chain_position_unique" not in constraints
        with connection.cursor() as cursor:
            assert "seq" not in {c.name for c in connection.introspection.get_table_description(cursor, TABLE)}
        _update_is_refused()
    finally:
        executor.migrate(executor.loader.graph.leaf_nodes())
    _update_is_refused()
    assert audit_verify().ok
