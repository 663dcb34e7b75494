"""The hash chain of the audit trail, as pure functions.

``entry_hash = HMAC-SHA256(key, canonical + prev_hash)``: ``canonical`` is the row's content as JSON
with sorted keys and no whitespace, ``key`` is ``AUDIT_HMAC_KEY``, a secret the database does not
hold. Changing a stored field changes its hash and nobody without the key computes the new one;
removing or reordering rows breaks the links; the signed chain head (``head_signature``) shows a
removed tail. Rows before migration 0007 keep their unkeyed scheme (``legacy_chain_hash``).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
from datetime import UTC, datetime
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
    effective_at: datetime | None = None,
) -> str:
    """The row's content as canonical JSON. ``effective_at`` counts only when set (rows without it,
    and every row written before it existed, keep the content they were hashed with)."""
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
    if effective_at is not None:
        content["effective_at"] = effective_at.astimezone(UTC).isoformat()
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def audit_key() -> bytes:
    """The HMAC key of the audit trail, read at call time (``settings.AUDIT_HMAC_KEY``)."""
    from django.conf import settings

    return settings.AUDIT_HMAC_KEY.encode("utf-8")


def legacy_chain_hash(canonical: str, prev_hash: str) -> str:
    """Scheme 1: ``sha256(canonical + prev_hash)``, the rows written before migration 0007. They are left as
    they are (an audit trail is not rewritten; hashes already exported stay valid) and the chain head
    counts them in ``legacy_count``."""
    return hashlib.sha256((canonical + prev_hash).encode("utf-8")).hexdigest()


class ChainHasher:
    """Scheme 2: HMAC-SHA256 under one key. The key schedule is done once; each row copies it."""

    def __init__(self, key: bytes):
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __call__(self, canonical: str, prev_hash: str) -> str:
        mac = self._keyed.copy()
        mac.update((canonical + prev_hash).encode("utf-8"))
        return mac.hexdigest()


def head_signature(key: bytes, *, portfolio_id: int, count: int, last_hash: str, legacy_count: int) -> str:
    """HMAC of a chain head's state: the owner who can rewrite the head row cannot sign a rolled-back one."""
    message = f"audit-chain-head:{portfolio_id}:{count}:{legacy_count}:{last_hash}"
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


#: The ``AuditEntry`` attributes the content is made of: ``canonical_content``'s keywords, each named as on the row.
CONTENT_FIELDS = tuple(inspect.signature(canonical_content).parameters)


def entry_canonical(entry) -> str:
    """Canonical content of a stored ``AuditEntry`` row."""
    return canonical_content(**{name: getattr(entry, name) for name in CONTENT_FIELDS})
