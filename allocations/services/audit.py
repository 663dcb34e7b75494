"""Appending to the audit trail. Callers are already inside ``transaction.atomic``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from allocations.audit_chain import GENESIS_HASH, canonical_content, chain_hash, normalise_payload
from allocations.models import AuditEntry, Portfolio

from .actors import Actor
from .bulk import bulk_insert
from .locks import portfolio_lock

BULK_THRESHOLD = 20  # from this many rows on, stream them (COPY on PostgreSQL) instead of building models


@dataclass
class AuditRecord:
    """The content of one audit row before it is chained."""

    kind: str
    reason: str = ""
    strategy_id: int | None = None
    run_id: int | None = None
    step_id: int | None = None
    old_amount: Decimal | None = None
    new_amount: Decimal | None = None
    total_capital: Decimal | None = None
    payload: dict = field(default_factory=dict)


def _lock_chain_tail(portfolio: Portfolio) -> str:
    """Lock the portfolio row (the chain's mutex) and return the hash of its last audit row."""
    portfolio_lock(portfolio.pk)
    last = (
        AuditEntry.objects.filter(portfolio_id=portfolio.pk)
        .order_by("-id")
        .values_list("entry_hash", flat=True)
        .first()
    )
    return last or GENESIS_HASH


def audit_append_many(*, portfolio: Portfolio, actor: Actor, records: Sequence[AuditRecord]) -> list[AuditEntry]:
    """Chain ``records`` onto the portfolio's trail and insert them in one statement.

    Returns the new rows for small batches; large ones are streamed and return ``[]``.
    """
    if not records:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit rows must be appended inside the transaction that makes the change")
    prev_hash = _lock_chain_tail(portfolio)
    now = timezone.now()
    rows = []
    for record in records:
        payload = normalise_payload(record.payload)
        row = {
            "portfolio_id": portfolio.pk,
            "kind": record.kind,
            "created_at": now,
            "strategy_id": record.strategy_id,
            "run_id": record.run_id,
            "step_id": record.step_id,
            "old_amount": record.old_amount,
            "new_amount": record.new_amount,
            "total_capital": record.total_capital,
            "actor_id": actor.user_id,
            "actor_label": actor.label,
            "reason": record.reason,
            "payload": payload,
        }
        entry_hash = chain_hash(canonical_content(**row), prev_hash)
        row["prev_hash"], row["entry_hash"] = prev_hash, entry_hash
        rows.append(row)
        prev_hash = entry_hash
    if len(rows) >= BULK_THRESHOLD:
        bulk_insert(AuditEntry, rows)  # rows go in list order, so ids follow the chain
        return []
    return AuditEntry.objects.bulk_create([AuditEntry(**row) for row in rows])


def audit_append(*, portfolio: Portfolio, actor: Actor, record: AuditRecord) -> AuditEntry:
    return audit_append_many(portfolio=portfolio, actor=actor, records=[record])[0]
