"""``Idempotency-Key`` on POST: a retry gets the first response instead of a second effect.

The record is claimed (inserted with no status) before the view runs, under the unique (user, key)
constraint, so of two concurrent requests with one key exactly one runs (the cases: ``idempotent``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.http.request import RawPostDataException
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from allocations.models import IdempotencyRecord
from allocations.models.idempotency import MAX_KEY_LENGTH
from allocations.selectors.idempotency import idempotency_record_get
from allocations.services.idempotency import idempotency_claim, idempotency_complete, idempotency_release

HEADER = "Idempotency-Key"
ABANDONED_AFTER = timedelta(minutes=10)  # far longer than any request may take

IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body gets the first response; another body gets 422.",
)


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"

    def __init__(self, detail):
        super().__init__({HEADER: [detail]})


class IdempotencyKeyInFlight(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_flight"

    def __init__(self):
        super().__init__({HEADER: ["a request with this key is still being processed; retry later"]})


def idempotency_key(request) -> str | None:
    """The request's key, or None; 400 when it is present but empty or too long."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError({HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable characters"]})
    return key


def request_fingerprint(request) -> str:
    """sha256 of method, path and the body (JSON bodies canonicalised: key order and spacing ignored)."""
    try:
        body = request._request.body  # the raw bytes; Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE here
    except RawPostDataException:  # already streamed to a parser: hash what it parsed
        body = JSONRenderer().render(request.data)
    if request.content_type and request.content_type.startswith("application/json"):
        try:
            body = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, RecursionError):
            pass  # not JSON: the raw bytes stand; the view will answer 400
    digest = hashlib.sha256()
    for part in (request.method.encode(), b"\n", request.path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


def _claim(request, key: str, fingerprint: str) -> tuple[IdempotencyRecord | None, Response | None]:
    """Insert the claim, or return the response owed to a retry."""
    record = idempotency_claim(
        user=request.user, key=key, method=request.method, path=request.path, request_hash=fingerprint
    )
    if record is not None:
        return record, None
    existing = idempotency_record_get(user=request.user, key=key)
    if existing is None:  # the first request failed and released the key between our two queries
        return _claim(request, key, fingerprint)
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"this key was used for another request ({existing.method} {existing.path} with another body)"
        )
    if existing.status_code is None:
        if existing.created_at < timezone.now() - ABANDONED_AFTER:
            # The process that claimed it died mid-request (its transaction rolled back, so
            # nothing of the request was kept): release the claim and run the retry.
            idempotency_release(record_id=existing.pk, only_unfinished=True)
            return _claim(request, key, fingerprint)
        raise IdempotencyKeyInFlight()
    replay = Response(existing.response_body, status=existing.status_code)
    replay["Idempotent-Replayed"] = "true"
    return None, replay


def _whole(body):
    return body


def idempotent(handler=None, *, replayable=_whole):
    """Decorate a view's ``post``: the view's response is stored under the request's key, and the
    view gets the key as its ``idempotency_key`` argument (None without the header).

    Same key, same request (method, path, canonical body), the first finished: its status and body are
    replayed with ``Idempotent-Replayed: true``; same key, another request: 422 naming the header; same
    key while the first still runs: 409; the view raised or answered 4xx/5xx: the claim is removed and a
    retry runs afresh. ``replayable(body)``
    is what a replay may show (a webhook endpoint's secret, shown once, is left out)."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(view, request, *args, **kwargs):
            key = idempotency_key(request)
            if key is None:
                return handler(view, request, *args, idempotency_key=None, **kwargs)
            record, replay = _claim(request, key, request_fingerprint(request))
            if replay is not None:
                return replay
            try:
                response = handler(view, request, *args, idempotency_key=key, **kwargs)
            except BaseException:
                idempotency_release(record_id=record.pk)
                raise
            if response.status_code >= 400:
                idempotency_release(record_id=record.pk)
                return response
            body = replayable(json.loads(JSONRenderer().render(response.data) or b"null"))
            idempotency_complete(record_id=record.pk, status_code=response.status_code, body=body)
            return response

        return wrapper

    return decorate if handler is None else decorate(handler)
