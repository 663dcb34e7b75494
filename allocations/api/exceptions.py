"""One exception handler for the API: domain errors, database refusals and oversized bodies.

- ``ConflictError`` -> 409 and ``DomainError`` -> 400, both as ``{field: [messages]}``;
- a Django ``ValidationError``, an ``IntegrityError`` (a constraint refused the row) or a
  ``DataError`` (a value the database cannot hold) -> 400;
- an engine error (bad input the engine noticed) -> 400;
- ``RequestDataTooBig`` -> 413;
- everything else is DRF's.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from allocations.engine import EngineError
from allocations.errors import ConflictError, DomainError

logger = logging.getLogger(__name__)


def _django_validation_errors(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def api_exception_handler(exc, context):
    if isinstance(exc, ConflictError):
        return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": str(exc) or "The request body is too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        return Response(_django_validation_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        logger.info("integrity error answered as 400: %s", exc)
        return Response(
            {"non_field_errors": [f"the database refused the change: {exc}".strip()]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DataError):  # a value the database cannot hold (a time offset, a huge number)
        logger.info("data error answered as 400: %s", exc)
        return Response(
            {"non_field_errors": [f"a value is out of the range the database can store: {exc}".strip()]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, EngineError):
        message = str(exc)
        field, _, rest = message.partition(": ")
        key = field if rest and " " not in field else "non_field_errors"
        return Response({key: [message]}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
