"""The OpenAPI schema as client generators read it: bodies, errors, names, examples, idempotency, pages."""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest
from rest_framework.test import APIClient

from capital_allocation.api_schema import problem_statuses

WRITES = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _each_operation(schema):
    for _path, _method, operation in _operations(schema):
        yield operation


def _json_schema(openapi_schema: dict, document: dict) -> dict:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable`` as a null type, refs resolved in ``document``."""

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: convert(value) for key, value in node.items()}
        if node.pop("nullable", False):
            node = {"anyOf": [node, {"type": "null"}]}
        return node

    converted = convert(copy.deepcopy(document))
    return {**convert(openapi_schema), "components": converted["components"]}


def test_writes_take_json_only_and_the_returns_upload_also_csv(schema):
    for path, method, operation in _operations(schema):
        body = operation.get("requestBody")
        if body is None:
            continue
        expected = {"application/json", "text/csv"} if path.endswith("/returns/") else {"application/json"}
        assert set(body["content"]) == expected, (method, path)


def test_every_operation_documents_each_error_it_can_answer_as_a_problem(schema):
    for path, method, operation in _operations(schema):
        idempotent = any(p.get("$ref", "").endswith("/IdempotencyKey") for p in operation.get("parameters", []))
        statuses = problem_statuses(path, method, operation, idempotent=idempotent)
        assert {405, 406, 503} <= set(statuses)
        for status in statuses:
            response = operation["responses"][str(status)]
            assert response["description"], (method, path, status)
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            if status in (429, 503):
                assert "Retry-After" in response["headers"]
        if method in WRITES:
            assert "429" in operation["responses"]
        if "{slug}" in path:
            assert {"403", "404"} <= set(operation["responses"]), (method, path)


def test_the_problem_component_is_what_the_api_answers(schema, client_as, demo):
    problem_schema = _json_schema({"$ref": "#/components/schemas/Problem"}, schema)
    answers = [
        client_as("viewer").post("/api/v1/portfolios/demo/allocation/rebalance", {}, format="json"),  # 403
        client_as("pm").post("/api/v1/portfolios/demo/allocation/rebalance", {"total_equity": -1}, format="json"),
        client_as("viewer").get("/api/v1/portfolios/demo/strategies/nope/"),
    ]
    assert [a.status_code for a in answers] == [403, 400, 404]
    for answer in answers:
        jsonschema.validate(answer.json(), problem_schema)
    assert answers[1].json()["errors"] == [{"field": "total_equity", "message": "must be greater than 0"}]


def test_every_example_validates_against_its_schema(schema):
    checked = 0
    for operation in _each_operation(schema):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            for example in media.get("examples", {}).values():
                jsonschema.validate(example["value"], _json_schema(media["schema"], schema))
                checked += 1
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                for example in media.get("examples", {}).values():
                    jsonschema.validate(example["value"], _json_schema(media["schema"], schema))
                    checked += 1
    assert checked >= 2


def test_closed_sets_are_named_enums(schema):
    components = schema["components"]["schemas"]
    enums = {name for name, component in components.items() if "enum" in component}
    assert {
        "RunStatusEnum",
        "RunTriggerEnum",
        "MethodEnum",
        "StrategyStatusEnum",
        "ScheduleStatusEnum",
        "StepStatusEnum",
        "AuditKindEnum",
        "SignalActionEnum",
        "EquityChangeStatusEnum",
        "DeliveryStatusEnum",
        "EventTypeEnum",
        "CovarianceEstimatorEnum",
    } <= enums
    assert not [
        name for name in enums if re.fullmatch(r"(Status|Kind|Type|Action|Method)[0-9a-f]+Enum|StatusEnum", name)
    ]
    assert components["RunOutput"]["properties"]["status"] == {"$ref": "#/components/schemas/RunStatusEnum"}
    assert components["AuditOutput"]["properties"]["kind"] == {"$ref": "#/components/schemas/AuditKindEnum"}


def _refs(schemas) -> list[str]:
    return [item.get("$ref") for item in schemas or []]


def test_the_explanation_and_the_schedule_are_named_components(schema):
    components = schema["components"]["schemas"]
    for name in ("RebalanceOutput", "RunDetailOutput"):
        properties = components[name]["properties"]
        explanation = properties["explanation"]
        assert "#/components/schemas/Explanation" in (explanation.get("$ref"), *_refs(explanation.get("allOf"))), name
        assert properties["transition_schedule"]["items"] == {"$ref": "#/components/schemas/RebalanceOutputStep"}
    explanation = components["Explanation"]["properties"]
    assert explanation["strategies"]["additionalProperties"] == {"$ref": "#/components/schemas/StrategyStages"}
    assert explanation["returns_window"] == {"$ref": "#/components/schemas/ReturnsWindow"}


def test_idempotency_is_one_documented_parameter_and_replays_are_marked(schema):
    parameter = schema["components"]["parameters"]["IdempotencyKey"]
    assert parameter["in"] == "header" and parameter["schema"]["maxLength"] == 200
    for rule in ("per user", "Idempotent-Replayed: true", "409", "422"):
        assert rule in parameter["description"]
    idempotent = 0
    for path, method, operation in _operations(schema):
        names = [p.get("name") for p in operation.get("parameters", [])]
        assert "Idempotency-Key" not in names, (method, path)  # only as the reference
        if {"$ref": "#/components/parameters/IdempotencyKey"} in operation.get("parameters", []):
            idempotent += 1
            assert {"409", "422"} <= set(operation["responses"])
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    assert "Idempotent-Replayed" in response["headers"], (method, path)
    assert idempotent >= 10


def test_operation_ids_csv_pagination_and_the_token_scheme(schema):
    for operation in _each_operation(schema):
        assert re.fullmatch(r"[A-Za-z0-9_]+", operation["operationId"]), operation["operationId"]
    audit = schema["paths"]["/api/v1/portfolios/{slug}/audit/"]["get"]
    assert set(audit["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    export = schema["paths"]["/api/v1/portfolios/{slug}/audit/export.csv"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv"}
    assert "format" not in [p["name"] for p in export["parameters"] if "name" in p]
    limit = next(p for p in audit["parameters"] if p.get("name") == "limit")
    assert limit["schema"]["maximum"] == 1000 and limit["schema"]["default"] == 50
    assert "Token <token>" in schema["components"]["securitySchemes"]["knoxApiToken"]["description"]
    assert "Bearer <token>" in schema["components"]["securitySchemes"]["knoxApiToken"]["description"]  # issue 21
    rebalance = schema["paths"]["/api/v1/portfolios/{slug}/allocation/rebalance"]["post"]
    assert "replay answers the first status" in rebalance["summary"]
