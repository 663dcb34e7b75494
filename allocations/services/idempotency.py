"""Writes to the idempotency table: claim a key before the request runs, then complete or release it.

The claim is an insert under the unique (user, key) constraint, so of two concurrent requests
with one key exactly one gets it (``allocations.api.idempotency`` decides what the other hears).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from allocations.models import IdempotencyRecord


def idempotency_claim(*, user, key: str, method: str, path: str, request_hash: str) -> IdempotencyRecord | None:
    """Insert the claim; None when the key is already claimed (by this user)."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user, key=key, method=method, path=path[:500], request_hash=request_hash
            )
    except IntegrityError:
        return None


def idempotency_complete(*, record_id: int, status_code: int, body) -> None:
    """Store the response a retry with the same key will be answered."""
    IdempotencyRecord.objects.filter(pk=record_id).update(status_code=status_code, response_body=body)


def idempotency_release(*, record_id: int, only_unfinished: bool = False) -> None:
    """Drop a claim (the request failed, or the process that made it died), so a retry runs afresh."""
    records = IdempotencyRecord.objects.filter(pk=record_id)
    if only_unfinished:
        records = records.filter(status_code__isnull=True)
    records.delete()
