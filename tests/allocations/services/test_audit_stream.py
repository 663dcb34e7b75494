"""A large batch of audit rows is streamed (COPY text built in one pass on PostgreSQL): the rows
stored are the records given, byte for byte where the hash reads them, and the chain verifies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from allocations.audit_chain import ChainHasher, audit_key, entry_canonical
from allocations.models import AuditEntry
from allocations.selectors.audit import audit_verify
from allocations.services.audit import BULK_THRESHOLD, AuditRecord, audit_append_many

pytestmark = pytest.mark.django_db

AWKWARD = ["", "tab\there", "new\nline", "back\\slash", 'quote "x"', "ünïcødé ✓", "cr\rreturn", "\\N"]


def _records(strategies) -> list[AuditRecord]:
    ids = [s.pk for s in strategies.values()]
    records = []
    for i in range(BULK_THRESHOLD * 3):
        records.append(
            AuditRecord(
                kind="fund_change" if i % 4 else "data_import",
                reason=AWKWARD[i % len(AWKWARD)],
                strategy_id=ids[i % len(ids)] if i % 5 else None,
                old_amount=None if i % 7 == 0 else Decimal(i) / 4,
                new_amount=Decimal("1234567.89") if i % 3 == 0 else Decimal(i),
                total_capital=Decimal(i * 10),
                payload={} if i % 2 else {"row": i, "text": AWKWARD[i % len(AWKWARD)], "x": [1.5, None]},
            )
        )
    return records


def test_a_streamed_batch_stores_its_records_and_verifies(portfolio, strategies, actor):
    records = _records(strategies)
    with transaction.atomic():
        assert audit_append_many(portfolio=portfolio, actor=actor, records=records) == []
    rows = list(AuditEntry.objects.filter(portfolio=portfolio).order_by("id"))
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        assert (row.kind, row.reason, row.strategy_id, row.actor_id, row.actor_label) == (
            record.kind,
            record.reason,
            record.strategy_id,
            actor.user_id,
            actor.label,
        )
        for name in ("old_amount", "new_amount", "total_capital"):
            given = getattr(record, name)
            assert getattr(row, name) == (None if given is None else given.quantize(Decimal("0.01")))
        assert row.payload == (record.payload and {**record.payload})
    hasher = ChainHasher(audit_key())
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == previous.entry_hash
        assert row.entry_hash == hasher(entry_canonical(row), row.prev_hash)
    assert audit_verify().ok


def test_a_streamed_batch_follows_rows_appended_one_by_one(portfolio, strategies, actor):
    with transaction.atomic():
        audit_append_many(portfolio=portfolio, actor=actor, records=[AuditRecord(kind="data_import", reason="one")])
        audit_append_many(portfolio=portfolio, actor=actor, records=_records(strategies))
        audit_append_many(portfolio=portfolio, actor=actor, records=[AuditRecord(kind="data_import", reason="last")])
    result = audit_verify()
    assert result.ok and result.checked == BULK_THRESHOLD * 3 + 2
