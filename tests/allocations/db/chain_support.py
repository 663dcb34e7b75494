"""Where a test batch of audit rows joins a chain: the ``ChainStart`` of one writer at one moment."""

from __future__ import annotations

from datetime import datetime

from allocations.audit_canonical import CanonicalBatch, ChainStart
from allocations.audit_chain import GENESIS_HASH, ChainHasher, audit_key


def chain_start(
    portfolio_id: int, *, now: datetime, actor_label: str, prev_hash: str = GENESIS_HASH, seq: int = 0
) -> ChainStart:
    """A batch of ``actor_label`` (no user) at ``now``, after ``seq`` rows ending in ``prev_hash``."""
    canonical = CanonicalBatch(portfolio_id=portfolio_id, created_at=now, actor_id=None, actor_label=actor_label)
    return ChainStart(
        portfolio_id=portfolio_id,
        actor_id=None,
        actor_label=actor_label,
        now=now,
        effective_at=None,
        canonical=canonical,
        hasher=ChainHasher(audit_key()),
        prev_hash=prev_hash,
        seq=seq,
    )
