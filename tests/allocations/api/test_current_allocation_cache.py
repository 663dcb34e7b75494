"""GET .../allocation/current answered from the cache its portfolio's version keys (selectors.current).

Read-your-writes: a change acknowledged to a client is in the next answer, whichever process
answers it; the timestamp is the time of each answer; a revoked permission or token counts at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import remove_perm
from knox.models import AuthToken
from rest_framework.test import APIClient

from allocations.models import Fund, Portfolio, Strategy
from allocations.services.actors import Actor
from allocations.services.funds import fund_set
from tests.allocations.demo_support import set_policy

CURRENT = "/api/v1/portfolios/demo/allocation/current"
REBALANCE = "/api/v1/portfolios/demo/allocation/rebalance"


@pytest.fixture(autouse=True)
def answers_cache(settings):
    """A real cache for "answers" (the test settings have none), empty at the start."""
    settings.CACHES = {
        **settings.CACHES,
        "answers": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex},
    }
    caches["answers"].clear()
    return caches["answers"]


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user)[1]}")
    return client


def without_timestamp(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "timestamp"}


def a_strategy(demo) -> Strategy:
    return Strategy.objects.filter(portfolio=demo, fund__isnull=False).order_by("code").first()


def test_a_fund_change_is_in_the_next_read(demo, users):
    viewer = token_client(users["viewer"])
    strategy = a_strategy(demo)
    assert viewer.get(CURRENT).json()["amounts"][strategy.code] != "1234.56"
    fund_set(portfolio=demo, strategy=strategy, amount="1234.56", actor=Actor.of_user(users["pm"]))
    body = viewer.get(CURRENT).json()
    assert body["amounts"][strategy.code] == "1234.56"
    assert body["recent_changes"][0]["strategy"] == strategy.code
    assert body["recent_changes"][0]["new_amount"] == "1234.56"


def test_a_rebalance_acknowledged_by_the_api_is_in_the_next_read(demo, users):
    set_policy(demo, approval_threshold=2.0, min_change_threshold=0.0)
    pm = token_client(users["pm"])
    before = pm.get(CURRENT).json()
    answer = pm.post(REBALANCE, {"allocation_method": "risk_parity", "force_rebalance": True}, format="json")
    assert answer.status_code == 201, answer.content
    after = pm.get(CURRENT).json()
    assert after["amounts"] != before["amounts"]
    funds = {
        f.strategy.code: f"{f.amount:.2f}"
        for f in Fund.objects.filter(strategy__portfolio=demo).select_related("strategy")
    }
    assert after["amounts"] == funds
    assert after["recent_changes"][0]["allocation_id"] == answer.json()["allocation_id"]


def test_an_equity_change_is_in_the_next_read(demo, users):
    viewer = token_client(users["viewer"])
    viewer.get(CURRENT)
    Portfolio.objects.filter(pk=demo.pk).update(total_equity=Decimal("9999999.99"))
    assert viewer.get(CURRENT).json()["total_equity"] == "9999999.99"


def test_the_cached_answer_is_the_answer_computed_afresh_with_the_time_of_each_answer(demo, users, answers_cache):
    viewer = token_client(users["viewer"])
    first = viewer.get(CURRENT).json()
    cached = viewer.get(CURRENT).json()
    answers_cache.clear()
    fresh = viewer.get(CURRENT).json()
    assert without_timestamp(cached) == without_timestamp(first) == without_timestamp(fresh)
    assert list(cached) == list(fresh)  # the same fields in the same order
    stamps = [dt.datetime.fromisoformat(b["timestamp"]) for b in (first, cached, fresh)]
    assert stamps == sorted(stamps) and stamps[0] < stamps[2]
    assert timezone.now() - stamps[2] < dt.timedelta(minutes=1)


def test_a_cached_read_is_the_token_and_one_query(demo, users):
    viewer = token_client(users["viewer"])
    viewer.get(CURRENT)
    with CaptureQueriesContext(connection) as queries:
        assert viewer.get(CURRENT).status_code == 200
    assert len(queries) == 2, [q["sql"][:120] for q in queries]


def test_an_etag_answers_304_until_the_portfolio_changes(demo, users):
    viewer = token_client(users["viewer"])
    first = viewer.get(CURRENT)
    etag = first["ETag"]
    assert etag.startswith('W/"')
    again = viewer.get(CURRENT, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    assert viewer.get(CURRENT, HTTP_IF_NONE_MATCH='W/"other"').status_code == 200
    fund_set(portfolio=demo, strategy=a_strategy(demo), amount="7.00", actor=Actor.of_user(users["pm"]))
    changed = viewer.get(CURRENT, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert token_client(users["risk"]).get(CURRENT)["ETag"] == changed["ETag"]  # the same for every viewer


def test_a_revoked_permission_is_404_at_the_next_read(demo, users):
    viewer = token_client(users["viewer"])
    assert viewer.get(CURRENT).status_code == 200
    remove_perm("allocations.view_portfolio", users["viewer"], demo)
    assert viewer.get(CURRENT).status_code == 404
    assert viewer.get(CURRENT, HTTP_IF_NONE_MATCH="*").status_code == 404


def test_an_expired_or_revoked_token_is_refused_at_the_next_read(demo, users):
    token, key = AuthToken.objects.create(users["viewer"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(CURRENT).status_code == 200
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(CURRENT).status_code == 401
    assert not AuthToken.objects.filter(pk=token.pk).exists()  # deleted, as knox does
    token, key = AuthToken.objects.create(users["viewer"])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(CURRENT).status_code == 200
    token.delete()  # a logout
    assert client.get(CURRENT).status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_by_another_connection_is_in_the_next_read(live_server):
    """Two connections as two processes would: the change is committed by one, read by the other."""
    import json
    import urllib.request

    from django.contrib.auth import get_user_model

    from allocations.demo import demo_seed

    demo_seed(strategies=12, days=30, seed=3)
    demo = Portfolio.objects.get(slug="demo")
    User = get_user_model()
    key = AuthToken.objects.create(User.objects.get(username="viewer"))[1]
    strategy = a_strategy(demo)

    def read() -> dict:
        request = urllib.request.Request(live_server.url + CURRENT, headers={"Authorization": f"Token {key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    for amount in ("11.00", "22.00", "33.00"):
        read()  # the live server's cache holds the answer before the change

        def change(amount=amount):
            try:
                fund_set(
                    portfolio=demo,
                    strategy=strategy,
                    amount=amount,
                    actor=Actor.of_user(User.objects.get(username="pm")),
                )
            finally:
                connection.close()

        writer = threading.Thread(target=change)
        writer.start()
        writer.join(timeout=60)
        assert read()["amounts"][strategy.code] == amount


def test_a_forged_token_or_an_inactive_user_is_refused(demo, users):
    token, key = AuthToken.objects.create(users["viewer"])
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Token {key[:15]}{'0' * (len(key) - 15)}")  # the right key prefix
    assert forged.get(CURRENT).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(CURRENT).status_code == 200
    type(users["viewer"]).objects.filter(pk=users["viewer"].pk).update(is_active=False)
    assert client.get(CURRENT).status_code == 401


def test_the_read_authenticates_as_knox_does_with_the_user_as_stored(demo, users):
    from allocations.api.permissions import ReadTokenAuthentication

    viewer = users["viewer"]
    token, key = AuthToken.objects.create(viewer)
    user, found = ReadTokenAuthentication().authenticate_credentials(key.encode())
    assert found.digest == token.digest and found.expiry == token.expiry and found.created == token.created
    assert user == viewer
    stored = type(viewer).objects.get(pk=viewer.pk)
    for field in type(viewer)._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(stored, field.attname), field.name


def test_the_fast_read_takes_a_bearer_token(demo, users):
    """Issue 21 item 18: the read's own authentication (ReadTokenAuthentication) takes ``Bearer`` too."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(users['viewer'])[1]}")
    response = client.get(CURRENT)
    assert response.status_code == 200, response.content
