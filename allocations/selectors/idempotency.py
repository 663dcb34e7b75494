"""Reads of the API's idempotency records."""

from __future__ import annotations

from allocations.models import IdempotencyRecord


def idempotency_record_get(*, user, key: str) -> IdempotencyRecord | None:
    """The claim or stored response of ``user``'s idempotency key, if any."""
    return IdempotencyRecord.objects.filter(user=user, key=key).first()
