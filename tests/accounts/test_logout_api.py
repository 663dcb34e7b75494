"""POST /api/v1/auth/logout/ and /api/v1/auth/logout-all/: a token, or every token of its user, stops working."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import roles
from accounts.services import roles_ensure, user_ensure

TOKEN_URL = "/api/v1/auth/token/"
LOGOUT_URL = "/api/v1/auth/logout/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
SOME_READ = "/api/v1/portfolios/"


@pytest.fixture
def bob(db):
    roles_ensure()
    user, _ = user_ensure(username="bob", role=roles.PORTFOLIO_MANAGER, password="other-pass")
    return user


def token_for(username: str, password: str) -> str:
    response = APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_logout_revokes_the_token_used_and_only_that_one(ana):
    used, other = token_for("ana", "s3cret-pass"), token_for("ana", "s3cret-pass")
    response = with_token(used).post(LOGOUT_URL)
    assert response.status_code == 204
    assert response.content == b""
    assert with_token(used).get(SOME_READ).status_code == 401
    assert with_token(other).get(SOME_READ).status_code == 200
    assert AuthToken.objects.filter(user=ana).count() == 1


def test_a_revoked_token_cannot_log_out_again(ana):
    token = token_for("ana", "s3cret-pass")
    assert with_token(token).post(LOGOUT_URL).status_code == 204
    assert with_token(token).post(LOGOUT_URL).status_code == 401


def test_logout_all_revokes_every_token_of_the_user_and_nobody_elses(ana, bob):
    first, second = token_for("ana", "s3cret-pass"), token_for("ana", "s3cret-pass")
    bobs = token_for("bob", "other-pass")
    response = with_token(first).post(LOGOUT_ALL_URL)
    assert response.status_code == 204
    assert response.content == b""
    assert with_token(first).get(SOME_READ).status_code == 401
    assert with_token(second).get(SOME_READ).status_code == 401
    assert with_token(bobs).get(SOME_READ).status_code == 200
    assert not AuthToken.objects.filter(user=ana).exists()


@pytest.mark.parametrize("role", roles.ROLES)
@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_ALL_URL])
def test_every_role_can_revoke_its_own_tokens(db, role, url):
    roles_ensure()
    user_ensure(username=f"u-{role}", role=role, password="s3cret-pass")
    token = token_for(f"u-{role}", "s3cret-pass")
    assert with_token(token).post(url).status_code == 204
    assert with_token(token).get(SOME_READ).status_code == 401


@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_ALL_URL])
@pytest.mark.parametrize("header", [None, "Token not-a-real-token", "Bearer abc"])
def test_logout_without_a_valid_token_is_401_and_revokes_nothing(ana, url, header):
    token = token_for("ana", "s3cret-pass")
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    assert client.post(url).status_code == 401
    assert with_token(token).get(SOME_READ).status_code == 200


@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_ALL_URL])
def test_a_browser_session_does_not_revoke_tokens(ana, url):
    """Logout revokes tokens; a session has none to name (and would need CSRF)."""
    token = token_for("ana", "s3cret-pass")
    client = APIClient()
    client.force_login(ana)
    assert client.post(url).status_code == 401
    assert with_token(token).get(SOME_READ).status_code == 200


@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_ALL_URL])
def test_logout_is_post_only(ana, url):
    token = token_for("ana", "s3cret-pass")
    assert with_token(token).get(url).status_code == 405
    assert with_token(token).get(SOME_READ).status_code == 200


def test_both_endpoints_are_in_the_openapi_schema(db):
    schema = APIClient().get("/api/schema/?format=json").json()
    for path, summary in [(LOGOUT_URL, "Revoke this token"), (LOGOUT_ALL_URL, "Revoke every token of the user")]:
        operations = schema["paths"][path]
        assert set(operations) == {"post"}
        post = operations["post"]
        assert post["summary"] == summary
        assert set(post["responses"]) == {"204", "401", "405", "406", "429", "503"}  # the errors are problems
        assert "requestBody" not in post
        assert post["security"] == [{"knoxApiToken": []}]
        assert post["tags"] == ["v1"]
