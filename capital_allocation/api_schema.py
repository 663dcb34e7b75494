"""drf-spectacular: component names for nested serializers, and what every operation shares.

``ApiAutoSchema`` names ``StrategyCreateApi.InputSerializer`` ``StrategyCreateInput`` (not ``Input``
for every view). ``document_problems`` documents on every operation the problems it can answer
(``capital_allocation.problems``), the ``Idempotency-Key`` header as one reusable parameter, the
``Idempotent-Replayed`` answer header and the ``Token`` prefix of the token scheme.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from capital_allocation.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX


class ApiAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        parts = [p.removesuffix("Serializer").removesuffix("Api") for p in qualname.split(".")]
        return "".join(parts)


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details: every error of the API has this shape.",
    "properties": {
        "type": {
            "type": "string",
            "description": f"The kind of problem: `{PROBLEM_TYPE_PREFIX}<code>` (invalid, parse-error, "
            "not-authenticated, "
            "authentication-failed, permission-denied, not-found, method-not-allowed, not-acceptable, conflict, "
            "payload-too-large, unsupported-media-type, idempotency-key-reused, idempotency-key-in-flight, "
            "throttled, unavailable, server-error).",
            "example": f"{PROBLEM_TYPE_PREFIX}invalid",
        },
        "title": {"type": "string", "description": "The status's phrase.", "example": "Bad Request"},
        "status": {"type": "integer", "description": "The HTTP status.", "example": 400},
        "detail": {
            "type": "string",
            "description": "What went wrong, naming the fields.",
            "example": "total_equity: must be greater than 0",
        },
        "errors": {
            "type": "array",
            "description": "Each field the request got wrong (validation problems only).",
            "items": {"$ref": "#/components/schemas/ProblemError"},
        },
    },
    "required": ["type", "title", "status", "detail"],
}
PROBLEM_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "field": {
            "type": "string",
            "description": "The field's path in the request: `total_equity`, `returns[0].return`, "
            "`sector_signals[1].action`, or a header such as `Idempotency-Key`.",
            "example": "total_equity",
        },
        "message": {"type": "string", "example": "must be greater than 0"},
    },
    "required": ["field", "message"],
}

RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}

PROBLEMS = {
    400: "The request is invalid: `errors` names each field by its path in the request.",
    401: (
        "No credentials, or a token that is unknown, expired or revoked "
        "(send `Authorization: Token <token>` or `Bearer <token>`)."
    ),
    403: "Authenticated, but without the permission this needs on the portfolio.",
    404: "No such portfolio (or not one granted to you), or no such resource in it.",
    405: "The path does not take this method.",
    406: "The `Accept` header asks for a representation this operation cannot give.",
    409: "The request clashes with the current state (a run already decided, a schedule not active, the "
    "portfolio busy with another change: retry), or a request with this Idempotency-Key is still running.",
    413: "The body is larger than the server takes (10 MB by default).",
    415: "The body's Content-Type is not one this operation reads (JSON; the returns upload also text/csv).",
    422: "This Idempotency-Key was used for another request (another path or body).",
    429: "Too many requests (writes per user, token requests per address): wait `Retry-After` seconds.",
    503: "The database is not answering: retry after `Retry-After` seconds.",
}

IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: per user, 1 to 200 printable characters. A retry with the same key, "
    "path and body answers the first answer with its status (and `Idempotent-Replayed: true`) without "
    "running again; while the first is still running it is 409; the same key with another path or body is 422. "
    "An error answer is not kept: the retry runs.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
REPLAYED_HEADER = {
    "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}
TOKEN_SCHEME_DESCRIPTION = (
    "A token from `POST /api/v1/auth/token/`, sent as `Authorization: Token <token>`; "
    "`Authorization: Bearer <token>` is taken too."
)
WRITES = {"post", "put", "patch", "delete"}


def _problem_response(status: int) -> dict:
    response = {
        "description": PROBLEMS[status],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": RETRY_AFTER}
    return response


def problem_statuses(path: str, method: str, operation: dict, *, idempotent: bool) -> list[int]:
    """The error statuses ``operation`` can answer."""
    statuses = {405, 406, 503}
    if operation.get("security", [{}]) not in ([{}], []):
        statuses.add(401)
    if "{slug}" in path:  # a portfolio's resources: permission per portfolio, a missing one, writes that clash
        statuses |= {403, 404} | ({409} if method in WRITES else set())
    elif "{" in path:
        statuses.add(404)
    if method in WRITES:
        statuses.add(429)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    if any(p.get("in") == "query" for p in operation.get("parameters", [])):
        statuses.add(400)
    if idempotent:
        statuses |= {400, 409, 422}  # a malformed key is a 400
    return sorted(statuses)


def _is_idempotency_header(parameter: dict) -> bool:
    return parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_PARAMETER["name"]


def document_problems(result, generator, request, public):
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(Problem=PROBLEM_SCHEMA, ProblemError=PROBLEM_ERROR_SCHEMA)
    components.setdefault("parameters", {})["IdempotencyKey"] = IDEMPOTENCY_PARAMETER
    scheme = components.get("securitySchemes", {}).get("knoxApiToken")
    if scheme is not None:
        scheme["description"] = TOKEN_SCHEME_DESCRIPTION
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            idempotent = any(_is_idempotency_header(p) for p in parameters)
            if idempotent:
                operation["parameters"] = [
                    {"$ref": "#/components/parameters/IdempotencyKey"} if _is_idempotency_header(p) else p
                    for p in parameters
                ]
                for status, response in operation["responses"].items():
                    if status.startswith("2"):
                        response.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED_HEADER
            for status in problem_statuses(path, method, operation, idempotent=idempotent):
                operation["responses"].setdefault(str(status), _problem_response(status))
    return result
