"""The first answer to a POST carrying an ``Idempotency-Key``, kept to replay to its retries."""

from __future__ import annotations

from django.conf import settings
from django.db import models

#: The longest ``Idempotency-Key`` accepted (the header, and the column of a run that keeps it).
MAX_KEY_LENGTH = 200


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed to its retries.

    A record is claimed (``status_code`` null) before the request is handled, so a concurrent
    retry sees the claim instead of running the request a second time.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
