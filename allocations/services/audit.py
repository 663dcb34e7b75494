"""Appending to the audit trail. Callers are already inside ``transaction.atomic``.

Every append moves the portfolio's chain head (``AuditChainHead``: row count, last hash, signature)
in the same transaction, and reads the chain's tail from it rather than from the audit table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from allocations.audit_chain import (
    GENESIS_HASH,
    ChainHasher,
    audit_key,
    head_signature,
    normalise_payload,
)
from allocations.models import AuditChainHead, AuditEntry, Portfolio

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


def _scalar(value) -> str:
    if value is None:
        return "null"
    return str(value) if type(value) is int else json.dumps(value, ensure_ascii=False)


def _money_text(value) -> str:
    return "null" if value is None else f'"{Decimal(value):.2f}"'


class CanonicalBatch:
    """``canonical_content`` of the rows of one batch, byte for byte, at a fraction of its cost: the
    fields the batch shares (portfolio, time, actor) are encoded once, repeated texts once each, and
    the keys are written in the sorted order ``json.dumps(sort_keys=True)`` gives them."""

    def __init__(self, *, portfolio_id: int, created_at: datetime, actor_id: int | None, actor_label: str):
        self._head = (
            f'{{"actor":{_scalar(actor_id)},"actor_label":{_scalar(actor_label)},'
            f'"created_at":{_scalar(created_at.isoformat())},"kind":'
        )
        self._portfolio = _scalar(portfolio_id)
        self._texts: dict[str, str] = {}

    def _text(self, value: str) -> str:
        encoded = self._texts.get(value)
        if encoded is None:
            encoded = self._texts[value] = _scalar(value)
        return encoded

    def __call__(self, row: dict) -> str:
        payload = row["payload"]
        payload_text = "{}"
        if payload:
            payload_text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return (
            f"{self._head}{self._text(row['kind'])},"
            f'"new_amount":{_money_text(row["new_amount"])},"old_amount":{_money_text(row["old_amount"])},'
            f'"payload":{payload_text},"portfolio":{self._portfolio},"reason":{self._text(row["reason"])},'
            f'"run":{_scalar(row["run_id"])},"step":{_scalar(row["step_id"])},"strategy":{_scalar(row["strategy_id"])},'
            f'"total_capital":{_money_text(row["total_capital"])}}}'
        )


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

    Returns the new rows for small batches; large ones are streamed and return ``[]``.
    """
    if not records:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit rows must be appended inside the transaction that makes the change")
    head = _lock_chain_tail(portfolio)
    prev_hash = GENESIS_HASH if head is None else head.last_hash
    key = audit_key()
    hasher = ChainHasher(key)
    now = timezone.now()
    canonical = CanonicalBatch(
        portfolio_id=portfolio.pk, created_at=now, actor_id=actor.user_id, actor_label=actor.label
    )
    rows = []
    for record in records:
        payload = normalise_payload(record.payload) if record.payload else {}
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
        entry_hash = hasher(canonical(row), prev_hash)
        row["prev_hash"], row["entry_hash"] = prev_hash, entry_hash
        rows.append(row)
        prev_hash = entry_hash
    _move_head(head, portfolio=portfolio, added=len(rows), last_hash=prev_hash, key=key)
    if len(rows) >= BULK_THRESHOLD:
        bulk_insert(AuditEntry, rows)  # rows go in list order, so ids follow the chain
        return []
    return AuditEntry.objects.bulk_create([AuditEntry(**row) for row in rows])


def audit_append(*, portfolio: Portfolio, actor: Actor, record: AuditRecord | None = None, **fields) -> AuditEntry:
    """Append one row: a ``record``, or its fields given directly (``kind=..., reason=..., payload=...``)."""
    record = record if record is not None else AuditRecord(**fields)
    return audit_append_many(portfolio=portfolio, actor=actor, records=[record])[0]
