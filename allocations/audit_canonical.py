"""The canonical form of a batch of audit rows, and the rows chained: what ``audit_chain`` hashes.

``CanonicalBatch`` writes ``audit_chain.canonical_content`` byte for byte at a fraction of its cost;
``chained_rows`` links a batch onto a chain's tail (hash, previous hash, position). Both fast and
portable writers (``allocations.db``) and the audit service use them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from allocations.audit_chain import ChainHasher, normalise_payload


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


def cents_text(value) -> str | None:
    """An amount as the text both the hash and the database get (two decimals), or None."""
    if value is None:
        return None
    return f"{value:.2f}" if type(value) is Decimal else f"{Decimal(value):.2f}"


def _quoted(cents: str | None) -> str:
    return "null" if cents is None else f'"{cents}"'


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
        """``canonical_content`` of ``record`` with its amounts already as text (``cents_text``) and its
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


@dataclass(frozen=True)
class ChainStart:
    """Where a batch of audit rows joins its portfolio's chain, and what its rows share: the writer,
    its clock (hashed), the effective time, the canonical form and the keyed hash of the batch."""

    portfolio_id: int
    actor_id: int | None
    actor_label: str
    now: datetime
    effective_at: datetime | None
    canonical: CanonicalBatch
    hasher: ChainHasher
    prev_hash: str  # the chain's last hash (GENESIS_HASH for the first row)
    seq: int  # the chain's last position: the batch takes seq + 1, seq + 2, ...


def chained_rows(records: Sequence[AuditRecord], start: ChainStart) -> tuple[list[dict], str]:
    """``records`` as ``AuditEntry`` field dicts chained onto ``start``, and the last hash."""
    rows, prev_hash, seq = [], start.prev_hash, start.seq
    for record in records:
        payload = normalise_payload(record.payload) if record.payload else {}
        row = {
            "portfolio_id": start.portfolio_id,
            "kind": record.kind,
            "created_at": start.now,
            "effective_at": start.effective_at,
            "strategy_id": record.strategy_id,
            "run_id": record.run_id,
            "step_id": record.step_id,
            "old_amount": record.old_amount,
            "new_amount": record.new_amount,
            "total_capital": record.total_capital,
            "actor_id": start.actor_id,
            "actor_label": start.actor_label,
            "reason": record.reason,
            "payload": payload,
        }
        entry_hash = start.hasher(start.canonical(row), prev_hash)
        seq += 1
        row["prev_hash"], row["entry_hash"], row["seq"] = prev_hash, entry_hash, seq
        rows.append(row)
        prev_hash = entry_hash
    return rows, prev_hash
