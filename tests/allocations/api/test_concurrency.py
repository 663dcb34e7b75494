"""Concurrent requests against the live server on PostgreSQL (threads, real connections)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken

from allocations.demo import demo_seed
from allocations.models import AllocationRun, IdempotencyRecord, Portfolio
from allocations.selectors.audit import audit_verify

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post(url, token, body, key=None):
    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Token {token}")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def race(calls):
    """Run the calls at the same moment; their results in order."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.fixture
def world(live_server, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"writes": "100000/min", "login": "100000/min"},
    }
    demo_seed(strategies=12, days=60, seed=9)
    User = get_user_model()
    tokens = {name: AuthToken.objects.create(User.objects.get(username=name))[1] for name in ("pm", "integration")}
    return live_server.url + "/api/v1/portfolios/demo/allocation/rebalance", tokens


def test_two_rebalances_at_once_both_answer_and_never_write_together(world):
    url, tokens = world
    results = race(
        [
            lambda: post(url, tokens["pm"], {"allocation_method": "risk_parity"}),
            lambda: post(url, tokens["integration"], {"allocation_method": "equal_weight"}),
        ]
    )
    statuses = sorted(status for status, _ in results)
    assert statuses in ([201, 201], [201, 409]), results
    assert AllocationRun.objects.count() == statuses.count(201)
    assert audit_verify(portfolio=Portfolio.objects.get(slug="demo")).ok


def test_the_same_key_at_once_runs_once(world):
    url, tokens = world
    body = {"allocation_method": "risk_parity"}
    results = race([lambda: post(url, tokens["pm"], body, key="same") for _ in range(3)])
    statuses = [status for status, _ in results]
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, results
    assert AllocationRun.objects.count() == 1
    ids = {body["allocation_id"] for status, body in results if status == 201}
    assert len(ids) == 1
    assert IdempotencyRecord.objects.get(key="same").status_code == 201
