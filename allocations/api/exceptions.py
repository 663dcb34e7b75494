"""One exception handler for the API: every error is answered as RFC 9457 problem details.

``capital_allocation.problems`` holds the shape; ``_as_api_exception`` gives each kind of failure its
status and code; anything else is left to Django (a 500, answered by the project's 500 view).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from allocations.api.parsers import PayloadTooLarge
from allocations.engine import EngineError
from allocations.errors import ConflictError, DomainError, NotPermitted
from capital_allocation.problems import PROBLEM_CONTENT_TYPE, field_errors, invalid_detail, problem

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5


def _django_validation_errors(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _engine_errors(exc: EngineError) -> dict:
    return {exc.field or "non_field_errors": [str(exc)]}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is not answering; retry shortly."
    default_code = "unavailable"
    wait = DATABASE_RETRY_AFTER_SECONDS  # DRF's handler answers it as Retry-After


def _as_api_exception(exc) -> exceptions.APIException | None:
    """The exceptions the domain and the database raise, as the DRF exception that answers them.

    DRF's own keep their status (a validation error lists each field by its path in the request).
    ``NotPermitted`` -> 403 (who asks: a role not held, four eyes); ``ConflictError`` -> 409 (the
    state: a run already decided, a portfolio busy); ``DomainError`` -> 400 naming its field; a Django
    ``ValidationError``, an ``IntegrityError``, a ``DataError`` or an ``EngineError`` (its field) -> 400;
    ``RequestDataTooBig`` -> 413; the database not answering (``OperationalError``) -> 503 with
    ``Retry-After``.
    """
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, NotPermitted):  # who asks, not the state: 403, never 409
        return exceptions.PermissionDenied(exc.message)
    if isinstance(exc, ConflictError):
        return Conflict(exc.message)
    if isinstance(exc, DomainError):
        return exceptions.ValidationError(exc.as_dict())
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(_django_validation_errors(exc))
    if isinstance(exc, IntegrityError):
        logger.info("integrity error answered as 400: %s", exc)
        return exceptions.ValidationError({"non_field_errors": [f"the database refused the change: {exc}".strip()]})
    if isinstance(exc, DataError):  # a value the database cannot hold (a time offset, a huge number)
        logger.info("data error answered as 400: %s", exc)
        return exceptions.ValidationError(
            {"non_field_errors": [f"a value is out of the range the database can store: {exc}".strip()]}
        )
    if isinstance(exc, EngineError):
        return exceptions.ValidationError(_engine_errors(exc))
    if isinstance(exc, OperationalError):
        logger.warning("database unavailable, answered as 503: %s", exc)
        return DatabaseUnavailable()
    return None


def _code(exc) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    code = getattr(getattr(exc, "detail", None), "code", None) or getattr(exc, "default_code", "error")
    return str(code).replace("_", "-")


def api_exception_handler(exc, context):
    exc = _as_api_exception(exc) or exc
    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After and the rollback
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"} and not isinstance(exc, exceptions.ValidationError):
        body = problem(response.status_code, _code(exc), str(data["detail"]))
    else:
        errors = field_errors(data)
        body = problem(response.status_code, _code(exc), invalid_detail(errors), errors)
    headers = {name: value for name, value in response.items() if name.lower() != "content-type"}
    answer = Response(body, status=response.status_code, headers=headers)
    request = context.get("request")
    if getattr(getattr(request, "accepted_renderer", None), "format", "json") != "api":  # not the browsable page
        # A CSV export's error is a problem too: the renderer negotiated for the rows does not render it.
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), PROBLEM_CONTENT_TYPE
        answer.content_type = PROBLEM_CONTENT_TYPE
    return answer
