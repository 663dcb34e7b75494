"""One error shape for every 4xx and 5xx of the API: RFC 9457 problem details.

    {"type": "urn:capital-allocation:problem:invalid", "title": "Bad Request", "status": 400,
     "detail": "returns[0].return: A valid number is required.",
     "errors": [{"field": "returns[0].return", "message": "A valid number is required."}]}

The API's exception handler builds its answers here; the project's 404 and 500 views too, under ``/api/``.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse
from django.views import defaults
from rest_framework.settings import api_settings

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:capital-allocation:problem:"
MAX_ERRORS_IN_DETAIL = 5


def field_errors(detail, path: str = "") -> list[dict]:
    """``[{"field": path, "message": ...}]`` from DRF's nested error detail.

    A dict nests by key (``a.b``; an integer key, as ``ListField`` gives, is an index ``a[0]``),
    a list of dicts or lists by position (``returns[0].return``, as a list serializer gives; valid
    items are empty and add nothing), a list of strings is the messages of ``path``. The
    ``non_field_errors`` key adds no step: its messages belong to the object around it (at the top,
    to the request as a whole, with the field ``""``).
    """
    if isinstance(detail, dict):
        found = []
        for key, value in detail.items():
            found += field_errors(value, _child_path(path, key))
        return found
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, dict | list | tuple) for item in detail):
            return [{"field": path, "message": str(message)} for message in detail]
        found = []
        for index, item in enumerate(detail):
            found += field_errors(item, f"{path}[{index}]")
        return found
    return [{"field": path, "message": str(detail)}]


def _child_path(path: str, key) -> str:
    if key == api_settings.NON_FIELD_ERRORS_KEY:
        return path
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def problem(status: int, code: str, detail: str, errors: list[dict] | None = None) -> dict:
    """The problem body; ``errors`` (field errors) only where there are some.

    ``type`` names the kind of problem (``PROBLEM_TYPE_PREFIX`` + a code such as ``invalid``,
    ``conflict``, ``not-found``; docs/integration.md lists them), ``title`` is the status's phrase,
    ``detail`` says what went wrong naming the field, and ``errors`` lists every field the request got
    wrong, by its path in the request (``returns[0].return``, ``Idempotency-Key``), with its message.
    """
    body = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    fields = [error for error in errors or [] if error["field"]]
    if fields:
        body["errors"] = fields
    return body


def invalid_detail(errors: list[dict]) -> str:
    """What a list of field errors says in one sentence: each field with its message."""
    if not errors:
        return "The request is invalid."
    said = [f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors[:MAX_ERRORS_IN_DETAIL]]
    more = len(errors) - len(said)
    return "; ".join(said) + (f"; and {more} more" if more > 0 else "")


def problem_response(status: int, code: str, detail: str) -> JsonResponse:
    """A plain Django problem answer (no DRF), for the project's own error views."""
    return JsonResponse(problem(status, code, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """The project's 404: a problem under ``/api/`` (a path no route takes), Django's page elsewhere."""
    if _is_api(request):
        return problem_response(404, "not-found", f"No resource at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    """The project's 500: a problem under ``/api/`` (with no detail of the failure), Django's page elsewhere."""
    if _is_api(request):
        return problem_response(500, "server-error", "The server failed to answer; the failure is logged.")
    return defaults.server_error(request)
