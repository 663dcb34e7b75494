"""What a request body may be (issue 8 items 5 and 6).

No endpoint of the API takes a file, so none reads multipart: a multipart body is 415 before any
of it is read (so a broken one can no longer be read as an empty body). A body of a type the
endpoint reads but cannot parse is 400, and a body with no Content-Type is 415: neither is ever
taken for an empty body, which would run a real rebalance instead of the dry run it asked for.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from allocations.models import AllocationRun, AuditEntry
from tests.problems import problem_of

BASE = "/api/v1/portfolios/demo"
REBALANCE = BASE + "/allocation/rebalance"
BOUNDARY = "BoUnDaRy"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
WELL_FORMED_MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="dry_run"\r\n\r\ntrue\r\n--{BOUNDARY}--\r\n'
)
BROKEN_MULTIPART = [
    # the parts are delimited by another boundary than the one declared: Django's parser finds no part
    '--OtherBoundary\r\nContent-Disposition: form-data; name="dry_run"\r\n\r\ntrue\r\n--OtherBoundary--\r\n',
    # the closing delimiter is missing and the part header is cut short
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="dry_run"',
    # not multipart at all
    '{"dry_run": true}',
]


def _nothing_written() -> bool:
    return not AllocationRun.objects.exists() and not AuditEntry.objects.filter(run__isnull=False).exists()


def _counts():
    return AllocationRun.objects.count(), AuditEntry.objects.count()


@pytest.mark.parametrize("body", BROKEN_MULTIPART)
def test_a_broken_multipart_rebalance_body_asking_a_dry_run_writes_nothing(client_as, demo, body):
    """Issue 8 item 6: the broken body was read as empty, so a real rebalance ran (201, funds moved).

    The rebalance takes no file, so multipart is refused as a type (415) before a byte is parsed.
    """
    before = _counts()
    response = client_as("pm").post(REBALANCE, data=body, content_type=MULTIPART)
    assert response.status_code == 415, response.content
    assert "multipart/form-data" in problem_of(response)["detail"]
    assert _counts() == before
    assert _nothing_written()


def test_a_broken_multipart_body_is_refused_before_the_csrf_check_reads_it(demo, users):
    """A browser session's CSRF check reads ``request.POST`` first: DRF then handed the view that
    (empty) parse instead of asking its own parsers. The type is refused before anything reads it."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["pm"])
    client.get("/admin/login/")  # a CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(REBALANCE, data=BROKEN_MULTIPART[0], content_type=MULTIPART, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 415, response.content
    assert _nothing_written()


BODY_ENDPOINTS = [
    ("post", REBALANCE),
    ("post", BASE + "/returns/"),
    ("post", BASE + "/signals/"),
    ("post", BASE + "/strategies/"),
    ("patch", BASE + "/strategies/tech-0001/"),
    ("post", BASE + "/strategies/tech-0001/retire/"),
    ("put", BASE + "/policy/"),
    ("patch", BASE + "/policy/"),
    ("put", BASE + "/allocation/method/equal_weight"),
    ("post", f"{BASE}/runs/{uuid.UUID(int=1)}/approve/"),  # a run that does not exist (fixed: ids name the tests)
    ("post", f"{BASE}/runs/{uuid.UUID(int=2)}/reject/"),
    ("post", BASE + "/schedules/1/cancel/"),
    ("post", "/api/v1/auth/token/"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_endpoints_that_take_no_file_refuse_multipart(client_as, demo, method, path):
    """Issue 8 item 5: no endpoint takes a file (returns come as a JSON or text/csv body)."""
    before = _counts()
    response = getattr(client_as("risk"), method)(path, data=WELL_FORMED_MULTIPART, content_type=MULTIPART)
    assert response.status_code == 415, response.content
    assert _counts() == before


def test_the_token_endpoint_refuses_a_multipart_upload_unread(db, monkeypatch):
    """Issue 8 item 5: an anonymous multipart upload to the token endpoint was written to disk."""
    from django.http.multipartparser import MultiPartParser

    parsed = []
    original = MultiPartParser.parse
    monkeypatch.setattr(MultiPartParser, "parse", lambda self: parsed.append(self) or original(self))
    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n\r\n{"x" * 5000}\r\n'
    response = APIClient().post("/api/v1/auth/token/", data=part + f"--{BOUNDARY}--\r\n", content_type=MULTIPART)
    assert response.status_code == 415
    assert parsed == []


@pytest.mark.parametrize(
    ("method", "path"), [("post", REBALANCE), ("patch", BASE + "/policy/"), ("post", BASE + "/signals/")]
)
def test_a_body_without_a_content_type_is_415_not_an_empty_body(client_as, demo, method, path):
    """``requests.post(url, data=json.dumps(...))`` sends no Content-Type: DRF read such a body as empty."""
    before = _counts()
    response = client_as("risk").generic(method.upper(), path, data=b'{"dry_run": true}', content_type="")
    assert response.status_code == 415, response.content
    assert "Content-Type" in problem_of(response)["detail"]
    assert _counts() == before


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", REBALANCE, "dry_run=true"),
        ("post", "/api/v1/auth/token/", "username=u&password=p"),
        ("patch", BASE + "/policy/", "max_total_risk=0.5"),
        ("post", BASE + "/returns/", "source=x"),
    ],
)
def test_the_api_reads_json_only_a_form_body_is_415_naming_what_it_takes(client_as, demo, method, path, body):
    """Writes take JSON (and the returns upload ``text/csv``); form bodies are the dashboard's, not the API's."""
    before = _counts()
    response = client_as("risk").generic(method.upper(), path, data=body, content_type=FORM)
    assert response.status_code == 415, response.content
    assert "application/json" in problem_of(response)["detail"]
    assert _counts() == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_an_oversized_json_body_is_413(db):
    body = json.dumps({"username": "u", "password": "x" * 5000})
    response = APIClient().post("/api/v1/auth/token/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert problem_of(response)["type"].endswith(":payload-too-large")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"dry_run": tru'),
        ("application/json", b'{"dry_run": "\xff"}'),
        ("text/csv", "date,strategy,return\n"),  # a type this endpoint does not read
    ],
)
def test_an_unparseable_or_unread_body_never_runs_a_rebalance(client_as, demo, content_type, body):
    response = client_as("pm").post(REBALANCE, data=body, content_type=content_type)
    assert response.status_code in (400, 415), response.content
    assert _nothing_written()
