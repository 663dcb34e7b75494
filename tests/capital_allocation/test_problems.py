"""``capital_allocation.problems``: DRF's nested error detail as field paths, and the project's 404/500."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.exceptions import ErrorDetail

from capital_allocation.problems import field_errors, invalid_detail, not_found, problem, server_error


def test_nested_serializer_errors_become_the_request_field_paths():
    detail = {
        "total_equity": [ErrorDetail("A valid number is required.", code="invalid")],
        "returns": [{}, {"return": ["not finite"], "date": ["bad date"]}],
        "sector_signals": {0: {"confidence": ["too big"]}},  # ListField's shape: index keys
        "strategy_performance": {"tech-0001": {"sharpe": ["not a number"]}},
        "non_field_errors": ["the body as a whole"],
    }
    assert field_errors(detail) == [
        {"field": "total_equity", "message": "A valid number is required."},
        {"field": "returns[1].return", "message": "not finite"},
        {"field": "returns[1].date", "message": "bad date"},
        {"field": "sector_signals[0].confidence", "message": "too big"},
        {"field": "strategy_performance.tech-0001.sharpe", "message": "not a number"},
        {"field": "", "message": "the body as a whole"},
    ]


def test_errors_of_an_object_inside_a_list_belong_to_that_item():
    assert field_errors({"returns": [{"non_field_errors": ["duplicate row"]}]}) == [
        {"field": "returns[0]", "message": "duplicate row"}
    ]


def test_a_problem_lists_field_errors_only_and_its_detail_names_each_field():
    errors = field_errors({"a": ["x"], "non_field_errors": ["whole"]})
    body = problem(400, "invalid", invalid_detail(errors), errors)
    assert body == {
        "type": "urn:capital-allocation:problem:invalid",
        "title": "Bad Request",
        "status": 400,
        "detail": "a: x; whole",
        "errors": [{"field": "a", "message": "x"}],
    }
    assert "errors" not in problem(409, "conflict", "busy")


def test_a_long_list_of_errors_is_summed_up_in_the_detail():
    errors = [{"field": f"f{i}", "message": "bad"} for i in range(8)]
    assert invalid_detail(errors).endswith("f4: bad; and 3 more")


@pytest.mark.parametrize(("view", "status"), [(not_found, 404), (server_error, 500)])
def test_the_project_error_views_answer_problems_under_the_api_and_pages_elsewhere(view, status):
    api = view(RequestFactory().get("/api/v1/nowhere"), *([None] if view is not_found else []))
    assert api.status_code == status and api["Content-Type"] == "application/problem+json"
    page = view(RequestFactory().get("/nowhere"), *([None] if view is not_found else []))
    assert page.status_code == status and page["Content-Type"].startswith("text/html")
