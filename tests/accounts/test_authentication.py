"""accounts/authentication.py: a knox token is taken with the prefix ``Token`` or ``Bearer`` (issue 21, item 18).

Clients send ``Authorization: Bearer <token>`` by habit; knox alone answered it 401.
"""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import roles
from accounts.services import roles_ensure, user_ensure

SOME_READ = "/api/v1/portfolios/"
LOGOUT_URL = "/api/v1/auth/logout/"


@pytest.fixture
def token(ana) -> str:
    return AuthToken.objects.create(ana)[1]


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.mark.parametrize("prefix", ["Token", "Bearer", "bearer", "BEARER"])
def test_either_prefix_authenticates(token, prefix):
    assert client_with(f"{prefix} {token}").get(SOME_READ).status_code == 200


def test_a_bearer_token_logs_out_like_a_token(token):
    assert client_with(f"Bearer {token}").post(LOGOUT_URL).status_code == 204
    assert client_with(f"Token {token}").get(SOME_READ).status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong", "Bearer", "Bearer a b", "Basic YW5hOnMzY3JldC1wYXNz"],
)
def test_a_bad_or_foreign_header_is_refused_and_the_challenge_names_token(ana, header):
    response = client_with(header).get(SOME_READ)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_expired_bearer_token_is_refused(db):
    roles_ensure()
    user, _ = user_ensure(username="eve", role=roles.VIEWER, password="pass-of-eve")
    instance, key = AuthToken.objects.create(user, expiry=None)
    AuthToken.objects.filter(pk=instance.pk).update(expiry="2000-01-01T00:00:00Z")
    assert client_with(f"Bearer {key}").get(SOME_READ).status_code == 401
