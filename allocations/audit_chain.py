"""The hash chain of the audit trail, as pure functions.

``entry_hash = sha256(canonical + prev_hash)`` where ``canonical`` is the row's content as JSON
with sorted keys and no whitespace. Changing any stored field of a row changes its hash; removing
or reordering rows breaks the ``prev_hash`` links. Both are what ``verify_audit`` looks for.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

GENESIS_HASH = "0" * 64


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def normalise_payload(payload: dict | None) -> dict:
    """The payload as the database will give it back (JSON round trip), so hashes stay stable."""
    return json.loads(json.dumps(payload or {}, sort_keys=True, default=str))


def canonical_content(
    *,
    portfolio_id: int,
    kind: str,
    created_at: datetime,
    strategy_id: int | None,
    run_id: int | None,
    step_id: int | None,
    old_amount: Decimal | None,
    new_amount: Decimal | None,
    total_capital: Decimal | None,
    actor_id: int | None,
    actor_label: str,
    reason: str,
    payload: dict,
) -> str:
    content = {
        "portfolio": portfolio_id,
        "kind": kind,
        "created_at": created_at.isoformat(),
        "strategy": strategy_id,
        "run": run_id,
        "step": step_id,
        "old_amount": _money(old_amount),
        "new_amount": _money(new_amount),
        "total_capital": _money(total_capital),
        "actor": actor_id,
        "actor_label": actor_label,
        "reason": reason,
        "payload": payload,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(canonical: str, prev_hash: str) -> str:
    return hashlib.sha256((canonical + prev_hash).encode("utf-8")).hexdigest()


def entry_canonical(entry) -> str:
    """Canonical content of a stored ``AuditEntry`` row."""
    return canonical_content(
        portfolio_id=entry.portfolio_id,
        kind=entry.kind,
        created_at=entry.created_at,
        strategy_id=entry.strategy_id,
        run_id=entry.run_id,
        step_id=entry.step_id,
        old_amount=entry.old_amount,
        new_amount=entry.new_amount,
        total_capital=entry.total_capital,
        actor_id=entry.actor_id,
        actor_label=entry.actor_label,
        reason=entry.reason,
        payload=entry.payload,
    )
