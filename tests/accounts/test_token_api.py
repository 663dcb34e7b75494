"""POST /api/v1/auth/token/: an expiring, hashed token for Authorization: Token ..."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.problems import problem_fields, problem_of

TOKEN_URL = "/api/v1/auth/token/"


def login(username="ana", password="s3cret-pass"):
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_login_returns_an_expiring_token_stored_hashed(ana):
    response = login()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry", "username"}
    stored = AuthToken.objects.get(user=ana)
    assert body["token"] not in (stored.digest, stored.token_key)  # only a digest and a prefix are stored
    assert stored.expiry > timezone.now() + timedelta(hours=9)


def test_the_token_authenticates_requests(ana):
    token = login().json()["token"]
    client = APIClient()
    assert client.get("/api/v1/portfolios/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/portfolios/").status_code == 200


def test_each_login_is_its_own_token(ana):
    first, second = login().json()["token"], login().json()["token"]
    assert first != second
    assert AuthToken.objects.filter(user=ana).count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "ana", "password": "wrong"}, "password"),
        ({"username": "nobody", "password": "s3cret-pass"}, "password"),
        ({"username": "ana"}, "password"),
        ({"password": "s3cret-pass"}, "username"),
    ],
)
def test_bad_credentials_are_400_naming_the_problem(ana, payload, field):
    response = APIClient().post(TOKEN_URL, payload, format="json")
    assert response.status_code == 400
    assert field in problem_fields(response)
    assert not AuthToken.objects.exists()


def test_an_inactive_user_gets_no_token(ana):
    ana.is_active = False
    ana.save()
    assert login().status_code == 400


@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token ", "Bearer abc", "Token a b"])
def test_an_invalid_token_is_401(ana, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/portfolios/").status_code == 401


def test_an_expired_token_is_401_and_removed(ana):
    token = login().json()["token"]
    AuthToken.objects.filter(user=ana).update(expiry=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/portfolios/").status_code == 401
    assert not AuthToken.objects.filter(user=ana).exists()


def test_session_writes_need_csrf(ana):
    """Browsers use the session; without the CSRF token a write is refused."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(ana)
    assert client.get("/api/v1/portfolios/").status_code == 200
    response = client.post("/api/v1/portfolios/demo/signals/", {"sector": "x", "action": "BUY"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in problem_of(response)["detail"]


def test_login_attempts_are_throttled_per_address(ana, settings):
    rates = {"writes": "60/min", "login": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    statuses = [login(password="wrong").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def _login_from(forwarded_for: str, password: str = "wrong"):
    client = APIClient(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=forwarded_for)
    return client.post(TOKEN_URL, {"username": "ana", "password": password}, format="json")


def test_rotating_x_forwarded_for_does_not_reset_the_login_limit(ana, settings):
    """The header is the client's to write: without a trusted proxy the limit keys on the peer address."""
    rates = {"writes": "60/min", "login": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    statuses = [_login_from(f"198.51.100.{n}").status_code for n in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert _login_from("198.51.100.99", password="s3cret-pass").status_code == 429
    assert not AuthToken.objects.exists()


def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(ana, settings):
    """With ``TRUSTED_PROXY_COUNT=1`` the address the proxy appended is the client's."""
    rates = {"writes": "60/min", "login": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates, "NUM_PROXIES": 1}
    # The client wrote 10.0.0.1 itself; the proxy appended the address it saw.
    first = [_login_from(f"10.0.0.{n}, 198.51.100.1").status_code for n in range(3)]
    assert first == [400, 400, 429]
    assert _login_from("198.51.100.2").status_code == 400
