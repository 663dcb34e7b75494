"""Appending to the audit trail. Callers are already inside ``transaction.atomic``.

Every append moves the portfolio's chain head (row count, last hash, signature) in the same
transaction and reads the chain's tail from it, not from the audit table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from allocations import clock, db
from allocations.audit_canonical import AuditRecord, CanonicalBatch, ChainStart, chained_rows
from allocations.audit_chain import GENESIS_HASH, ChainHasher, audit_key, head_signature
from allocations.models import AuditChainHead, AuditEntry, Portfolio

from .actors import Actor
from .locks import portfolio_lock

BULK_THRESHOLD = 20  # from this many rows on, stream them (``db.audit_rows_insert``) instead of building models


class AuditChainBroken(RuntimeError):
    """The portfolio has audit rows but no chain head: someone removed it. Nothing is appended."""


def _lock_chain_tail(portfolio: Portfolio) -> AuditChainHead | None:
    """Lock the portfolio row (the chain's mutex) and return its chain head (``None`` before the first row)."""
    portfolio_lock(portfolio.pk)
    head = AuditChainHead.objects.select_for_update().filter(portfolio_id=portfolio.pk).first()
    if head is None and AuditEntry.objects.filter(portfolio_id=portfolio.pk).exists():
        raise AuditChainBroken(
            f"portfolio {portfolio.pk} has audit rows but no chain head; run `manage.py verify_audit`"
        )
    return head


def _move_head(head: AuditChainHead | None, *, portfolio: Portfolio, added: int, last_hash: str, key: bytes) -> None:
    if head is None:
        head = AuditChainHead(portfolio_id=portfolio.pk, count=0, legacy_count=0)
        creating = True
    else:
        creating = False
    head.count += added
    head.last_hash = last_hash
    head.signature = head_signature(
        key, portfolio_id=portfolio.pk, count=head.count, last_hash=last_hash, legacy_count=head.legacy_count
    )
    if creating:
        head.save(force_insert=True)
    else:
        head.save(update_fields=["count", "last_hash", "signature"])


def audit_append_many(*, portfolio: Portfolio, actor: Actor, records: Sequence[AuditRecord]) -> list[AuditEntry]:
    """Chain ``records`` onto the portfolio's trail and insert them in one statement; move the chain head.

    Each row gets its chain position ``seq`` (the head's count before the batch + its place in it), on
    every path. ``(portfolio, seq)`` is unique: two writers racing for the tail would both claim
    ``count + 1`` and the database refuses the second, so the chain cannot fork (one integer index,
    instead of two unique indexes of random hashes: bench/README.md). ``seq`` is not hashed.
    Returns the new rows for small batches; large ones are streamed and return ``[]``.
    """
    if not records:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit rows must be appended inside the transaction that makes the change")
    head = _lock_chain_tail(portfolio)
    prev_hash = GENESIS_HASH if head is None else head.last_hash
    seq = 0 if head is None else head.count  # the chain's last position: the batch takes the next ones
    key = audit_key()
    hasher = ChainHasher(key)
    now = timezone.now()  # the writer's clock, hashed; the database stamps ``recorded_at`` itself
    effective_at = _effective_at()
    canonical = CanonicalBatch(
        portfolio_id=portfolio.pk,
        created_at=now,
        actor_id=actor.user_id,
        actor_label=actor.label,
        effective_at=effective_at,
    )
    start = ChainStart(
        portfolio_id=portfolio.pk,
        actor_id=actor.user_id,
        actor_label=actor.label,
        now=now,
        effective_at=effective_at,
        canonical=canonical,
        hasher=hasher,
        prev_hash=prev_hash,
        seq=seq,
    )
    if len(records) >= BULK_THRESHOLD:  # streamed: ids follow the chain, as the rows go in list order
        last_hash = db.audit_rows_insert(records, start)
        _move_head(head, portfolio=portfolio, added=len(records), last_hash=last_hash, key=key)
        return []
    rows, last_hash = chained_rows(records, start)
    _move_head(head, portfolio=portfolio, added=len(rows), last_hash=last_hash, key=key)
    return AuditEntry.objects.bulk_create([AuditEntry(**row) for row in rows])


def _effective_at() -> datetime | None:
    """The ``clock.effective`` moment in force, in UTC as the database gives it back (so it hashes alike)."""
    moment = clock.effective_override()
    return None if moment is None else moment.astimezone(UTC)


def audit_append(*, portfolio: Portfolio, actor: Actor, record: AuditRecord | None = None, **fields) -> AuditEntry:
    """Append one row: a ``record``, or its fields given directly (``kind=..., reason=..., payload=...``)."""
    record = record if record is not None else AuditRecord(**fields)
    return audit_append_many(portfolio=portfolio, actor=actor, records=[record])[0]
