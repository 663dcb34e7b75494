"""Sector signals pushed by integrations: stored and audited.

The caller passes typed values (the API's serializer checks the action and that the confidence
is in [0, 1]; the database's constraints hold them too); the rule checked here is that the sector
exists.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from allocations import clock
from allocations.choices import unknown_name
from allocations.errors import DomainError
from allocations.models import AuditEntry, Portfolio, SectorSignal
from allocations.selectors.strategies import sector_codes, sector_get

from .actors import Actor
from .audit import audit_append


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
    sector_row = sector_get(code=sector)
    if sector_row is None:
        raise DomainError(unknown_name("sector", sector, sector_codes()), field="sector")
    if as_of is None:
        as_of = clock.now()
    elif timezone.is_naive(as_of):
        as_of = timezone.make_aware(as_of)
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
            kind=AuditEntry.Kind.DATA_IMPORT,
            reason=f"sector signal{f' from {source}' if source else ''}",
            payload={
                "signal": signal.pk,
                "sector": sector,
                "action": action,
                "confidence": confidence,
                "as_of": as_of.isoformat(),
            },
        )
    return signal
