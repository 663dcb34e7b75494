"""schemathesis against the live test server: no input it makes gets a 5xx or an undocumented status, and
responses match the schema.

Every operation of ``/api/schema/`` gets a bounded number of generated requests, valid and
invalid, as the superuser on the seeded demo portfolio (``{slug}`` is ``demo``; other path
parameters are generated, so most of those requests are 404s, which must still be JSON).
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")

from django.contrib.auth import get_user_model  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from knox.models import AuthToken  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from allocations.demo import demo_seed  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))  # per operation and mode; raise it to dig deeper
# status_code_conformance: every status answered is documented on its operation (the problem responses).
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


def _fuzz(operation, mode, headers) -> list[str]:
    path_parameters = {"slug": "demo"} if "{slug}" in operation.path else None
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        pass  # nothing of this operation can be made invalid (a GET whose only parameter is the fixed slug)
    except Exception as exc:  # noqa: BLE001 - every failure is reported with its operation
        failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    return failures


def _viewer_headers() -> dict[str, str]:
    _, token = AuthToken.objects.create(get_user_model().objects.get(username="viewer"))
    return {"Authorization": f"Token {token}"}


@pytest.mark.django_db(transaction=True)
def test_no_input_gets_a_5xx_and_responses_match_the_schema(live_server, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"writes": "100000/min", "login": "100000/min"},
    }
    demo_seed(strategies=8, days=40, seed=11)
    _, token = AuthToken.objects.create(get_user_model().objects.get(username="admin"))
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    schema.config.update(base_url=f"{live_server.url}")
    headers = {"Authorization": f"Token {token}"}

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # logging out revokes the caller's tokens: those operations get a user of their own
            failures += _fuzz(operation, mode, _viewer_headers() if "/auth/logout" in operation.path else headers)
    assert not failures, "\n\n".join(failures)
