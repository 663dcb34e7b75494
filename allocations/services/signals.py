"""Sector signals pushed by integrations: validated, stored, audited."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from allocations.errors import DomainError
from allocations.models import AuditEntry, Portfolio, Sector, SectorSignal

from .actors import Actor
from .audit import AuditRecord, audit_append

ACTIONS = tuple(SectorSignal.Action.values)


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(f"confidence must be a number in [0, 1], got {value!r}", field="confidence")
    value = float(value)
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise DomainError(f"confidence must be in [0, 1], got {value}", field="confidence")
    return value


def signal_create(
    *,
    portfolio: Portfolio,
    actor: Actor,
    sector: str,
    action: str,
    confidence: float = 1.0,
    as_of: datetime | None = None,
    source: str = "",
) -> SectorSignal:
    """Record a BUY / SELL / HOLD signal of confidence in [0, 1] for one sector."""
    sector_row = Sector.objects.filter(code=sector).first() if isinstance(sector, str) else None
    if sector_row is None:
        raise DomainError(f"unknown sector {sector!r}", field="sector")
    if action not in ACTIONS:
        raise DomainError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}", field="action")
    confidence = _confidence(confidence)
    if as_of is None:
        as_of = timezone.now()
    elif not isinstance(as_of, datetime):
        raise DomainError(f"as_of must be a date and time, got {as_of!r}", field="as_of")
    elif timezone.is_naive(as_of):
        as_of = timezone.make_aware(as_of)
    if not isinstance(source, str) or len(source) > 100:
        raise DomainError("source must be text of at most 100 characters", field="source")
    with transaction.atomic():
        signal = SectorSignal.objects.create(
            portfolio=portfolio,
            sector=sector_row,
            action=action,
            confidence=confidence,
            as_of=as_of,
            source=source,
        )
        audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(
                kind=AuditEntry.Kind.DATA_IMPORT,
                reason=f"sector signal{f' from {source}' if source else ''}",
                payload={
                    "signal": signal.pk,
                    "sector": sector,
                    "action": action,
                    "confidence": confidence,
                    "as_of": as_of.isoformat(),
                },
            ),
        )
    return signal
