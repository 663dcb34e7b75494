"""Reading the API's error answers (RFC 9457 problem details) in tests."""

from __future__ import annotations

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def problem_of(response) -> dict:
    """The problem body of an error answer, after checking its media type and its shape."""
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert PROBLEM_KEYS <= set(body) <= PROBLEM_KEYS | {"errors"}, body
    assert body["status"] == response.status_code and body["type"].startswith("urn:capital-allocation:problem:")
    assert isinstance(body["detail"], str) and body["detail"], body
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"} and error["field"] and error["message"], error
    return body


def problem_fields(response) -> dict[str, list[str]]:
    """``{field path: [messages]}`` of an error answer (the problem's ``errors``)."""
    fields: dict[str, list[str]] = {}
    for error in problem_of(response).get("errors", []):
        fields.setdefault(error["field"], []).append(error["message"])
    return fields
