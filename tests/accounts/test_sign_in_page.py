"""``/accounts/login/``: an HTML form for a browser, directions for a JSON client."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_browser_gets_the_sign_in_form(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b'name="username"' in page.content and b'name="password"' in page.content


def test_a_json_client_following_a_page_redirect_is_told_how_to_sign_in(client):
    response = client.get("/portfolios/demo/", HTTP_ACCEPT="application/json", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    body = response.json()
    assert body["token_endpoint"] == "/api/v1/auth/token/" and body["fields"] == ["username", "password"]
    assert body["next"] == "/portfolios/demo/"
