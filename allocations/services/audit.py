"""Appending to the audit trail. Callers are already inside ``transaction.atomic``.

Every append moves the portfolio's chain head (``AuditChainHead``: row count, last hash, signature)
in the same transaction, and reads the chain's tail from it rather than from the audit table.

Each row also gets its chain position, ``seq`` = the head's count before the batch + its place in
the batch (1-based), on every path (``bulk_create``, ``bulk_insert``, COPY). ``(portfolio, seq)`` is
unique: two writers racing for the tail would both claim ``count + 1`` and the database refuses the
second, so the chain cannot fork. That guard is one integer index; it replaced two unique indexes of
random 64-character hashes (``entry_hash``; ``portfolio, prev_hash``), which cost ~10 of the ~38 ms
of every 1,000 rows a rebalance appends (issue 14). ``seq`` is not hashed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from allocations import clock
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


def _cents(value) -> str | None:
    """An amount as the text both the hash and the database get (two decimals), or None."""
    if value is None:
        return None
    return f"{value:.2f}" if type(value) is Decimal else f"{Decimal(value):.2f}"


def _quoted(cents: str | None) -> str:
    return "null" if cents is None else f'"{cents}"'


def copy_field(value) -> str:
    """One value of a row of PostgreSQL's COPY text format (``\\N`` for NULL, special characters escaped)."""
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_text(model, columns: Sequence[str], text: str) -> None:
    """Stream ``text`` (rows of COPY's text format, ``columns`` in order) into ``model``'s table.

    The hot writes build their rows' text in one pass (``psycopg``'s ``write_row`` adapts value by value).
    """
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            copy.write(text)


class CanonicalBatch:
    """``canonical_content`` of the rows of one batch, byte for byte, at a fraction of its cost: the
    fields the batch shares (portfolio, time, actor) are encoded once, repeated texts once each, and
    the keys are written in the sorted order ``json.dumps(sort_keys=True)`` gives them."""

    def __init__(
        self,
        *,
        portfolio_id: int,
        created_at: datetime,
        actor_id: int | None,
        actor_label: str,
        effective_at: datetime | None = None,
    ):
        effective = "" if effective_at is None else f'"effective_at":{_scalar(effective_at.isoformat())},'
        self._head = (
            f'{{"actor":{_scalar(actor_id)},"actor_label":{_scalar(actor_label)},'
            f'"created_at":{_scalar(created_at.isoformat())},{effective}"kind":'
        )
        self._portfolio = _scalar(portfolio_id)
        self._texts: dict[str, str] = {}
        self._templates: dict[tuple, tuple[str, str]] = {}

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

    def of_record(
        self, record: AuditRecord, payload_text: str, old: str | None, new: str | None, total: str | None
    ) -> str:
        """``canonical_content`` of ``record`` with its amounts already as text (``_cents``) and its
        payload as canonical JSON: what rows sharing kind, reason, run, step and payload share is encoded once."""
        key = (record.kind, record.reason, record.run_id, record.step_id, payload_text)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = (
                f'{self._head}{_scalar(record.kind)},"new_amount":',
                f',"payload":{payload_text},"portfolio":{self._portfolio},"reason":{_scalar(record.reason)},'
                f'"run":{_scalar(record.run_id)},"step":{_scalar(record.step_id)},"strategy":',
            )
        before, middle = template
        return (
            f'{before}{_quoted(new)},"old_amount":{_quoted(old)}{middle}'
            f'{_scalar(record.strategy_id)},"total_capital":{_quoted(total)}}}'
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
    if len(records) >= BULK_THRESHOLD and connection.vendor == "postgresql":
        text, prev_hash = _chained_copy_text(
            records,
            portfolio=portfolio,
            actor=actor,
            now=now,
            effective_at=effective_at,
            canonical=canonical,
            hasher=hasher,
            prev_hash=prev_hash,
            seq=seq,
        )
        _move_head(head, portfolio=portfolio, added=len(records), last_hash=prev_hash, key=key)
        copy_text(AuditEntry, COPY_COLUMNS, text)  # rows go in list order, so ids follow the chain
        return []
    rows = []
    for record in records:
        payload = normalise_payload(record.payload) if record.payload else {}
        row = {
            "portfolio_id": portfolio.pk,
            "kind": record.kind,
            "created_at": now,
            "effective_at": effective_at,
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
        seq += 1
        row["prev_hash"], row["entry_hash"], row["seq"] = prev_hash, entry_hash, seq
        rows.append(row)
        prev_hash = entry_hash
    _move_head(head, portfolio=portfolio, added=len(rows), last_hash=prev_hash, key=key)
    if len(rows) >= BULK_THRESHOLD:
        bulk_insert(AuditEntry, rows)
        return []
    return AuditEntry.objects.bulk_create([AuditEntry(**row) for row in rows])


COPY_COLUMNS = (
    "portfolio", "kind", "created_at", "effective_at", "strategy", "run", "step", "old_amount", "new_amount",
    "total_capital", "actor", "actor_label", "reason", "payload", "prev_hash", "entry_hash", "seq",
)  # fmt: skip


def _chained_copy_text(
    records: Sequence[AuditRecord],
    *,
    portfolio: Portfolio,
    actor: Actor,
    now: datetime,
    effective_at: datetime | None,
    canonical: CanonicalBatch,
    hasher: ChainHasher,
    prev_hash: str,
    seq: int,
) -> tuple[str, str]:
    """The rows of ``records`` chained from ``prev_hash`` at positions ``seq + 1``, ``seq + 2``, ...,
    as COPY text (``COPY_COLUMNS``), and the last hash.

    One pass: each row's amounts are formatted once, for its hash and for the database alike, and
    what rows of one kind, reason, run, step and payload share is encoded once (for a rebalance's
    thousand fund changes, everything but the strategy and the three amounts).
    """
    shared: dict[tuple, tuple[str, str, str]] = {}
    who = f"{copy_field(actor.user_id)}\t{copy_field(actor.label)}\t"
    times = f"{now.isoformat()}\t{copy_field(None if effective_at is None else effective_at.isoformat())}"
    lines = []
    for record in records:
        payload = record.payload
        payload_text = "{}"
        if payload:
            payload_text = json.dumps(
                normalise_payload(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
        key = (record.kind, record.reason, record.run_id, record.step_id, payload_text)
        parts = shared.get(key)
        if parts is None:
            parts = shared[key] = (
                f"{portfolio.pk}\t{copy_field(record.kind)}\t{times}\t",
                f"\t{copy_field(record.run_id)}\t{copy_field(record.step_id)}\t",
                f"\t{who}{copy_field(record.reason)}\t{copy_field(payload_text)}\t",
            )
        old, new, total = _cents(record.old_amount), _cents(record.new_amount), _cents(record.total_capital)
        entry_hash = hasher(canonical.of_record(record, payload_text, old, new, total), prev_hash)
        seq += 1
        lines.append(
            f"{parts[0]}{copy_field(record.strategy_id)}{parts[1]}{copy_field(old)}\t{copy_field(new)}\t"
            f"{copy_field(total)}{parts[2]}{prev_hash}\t{entry_hash}\t{seq}\n"
        )
        prev_hash = entry_hash
    return "".join(lines), prev_hash


def _effective_at() -> datetime | None:
    """The ``clock.effective`` moment in force, in UTC as the database gives it back (so it hashes alike)."""
    moment = clock.effective_override()
    return None if moment is None else moment.astimezone(UTC)


def audit_append(*, portfolio: Portfolio, actor: Actor, record: AuditRecord | None = None, **fields) -> AuditEntry:
    """Append one row: a ``record``, or its fields given directly (``kind=..., reason=..., payload=...``)."""
    record = record if record is not None else AuditRecord(**fields)
    return audit_append_many(portfolio=portfolio, actor=actor, records=[record])[0]
