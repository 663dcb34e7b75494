"""Sign-in lockout (issue 21, item 8): 40 wrong passwords in a row used to be hashed one by one on
/accounts/login/ and /admin/login/, and the right one accepted after them. Now AXES_FAILURE_LIMIT (5)
failures lock the username and the address, across processes (the counts are database rows), with a
clear message, without hashing, until the cool-off passes or an administrator lifts the lock."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts import roles
from accounts.services import user_ensure
from tests.problems import problem_of

SIGN_IN_PAGES = ["/accounts/login/", "/admin/login/"]


@pytest.fixture
def admin_user(db):
    user, _ = user_ensure(username="boss", role=roles.ADMINISTRATOR, password="b0ss-pass-123")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def _sign_in(path, username, password, address="198.51.100.20"):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(path, {"username": username, "password": password, "next": "/"})


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
def test_the_limit_locks_the_username_and_the_right_password_is_refused_then(ana, admin_user, settings, path):
    user, password = (admin_user, "b0ss-pass-123") if path.startswith("/admin") else (ana, "s3cret-pass")
    assert settings.AXES_FAILURE_LIMIT == 5  # the real number, not a test's
    statuses = [_sign_in(path, user.username, "wrong")[1].status_code for _ in range(6)]
    assert statuses[:4] == [200] * 4 and statuses[4:] == [429, 429]
    client, response = _sign_in(path, user.username, password)
    assert response.status_code == 429 and not _signed_in(client)
    assert b"Too many failed sign-ins" in response.content and b"administrator lifts the lock" in response.content
    assert response["Retry-After"] == str(15 * 60)


def test_one_address_trying_many_usernames_is_locked(ana, admin_user):
    for n in range(5):
        _sign_in("/accounts/login/", f"guess-{n}", "wrong", address="198.51.100.66")
    client, response = _sign_in("/accounts/login/", "ana", "s3cret-pass", address="198.51.100.66")
    assert response.status_code == 429 and not _signed_in(client)
    client, response = _sign_in("/accounts/login/", "ana", "s3cret-pass", address="198.51.100.67")
    assert response.status_code == 302 and _signed_in(client)  # ana herself is not locked


def test_one_username_tried_from_many_addresses_is_locked(ana):
    for n in range(5):
        _sign_in("/accounts/login/", "ana", "wrong", address=f"203.0.113.{n + 1}")
    client, response = _sign_in("/accounts/login/", "ana", "s3cret-pass", address="203.0.113.200")
    assert response.status_code == 429 and not _signed_in(client)


def test_a_locked_attempt_hashes_no_password(ana, monkeypatch):
    for _ in range(5):
        _sign_in("/accounts/login/", "ana", "wrong")
    hashed = []
    real = MD5PasswordHasher.verify
    monkeypatch.setattr(MD5PasswordHasher, "verify", lambda self, *a: hashed.append(1) or real(self, *a))
    for _ in range(10):
        _sign_in("/accounts/login/", "ana", "wrong")
    assert hashed == []


def test_the_token_api_counts_into_the_same_lockout(ana):
    for _ in range(5):
        APIClient(REMOTE_ADDR="198.51.100.30").post(
            "/api/v1/auth/token/", {"username": "ana", "password": "wrong"}, format="json"
        )
    locked = APIClient(REMOTE_ADDR="198.51.100.31").post(
        "/api/v1/auth/token/", {"username": "ana", "password": "s3cret-pass"}, format="json"
    )
    assert locked.status_code == 429 and problem_of(locked)["type"].endswith(":locked-out")
    assert "token" not in locked.json()


def test_an_administrator_lifts_the_lock(ana, admin_user):
    for _ in range(5):
        _sign_in("/accounts/login/", "ana", "wrong")
    assert AccessAttempt.objects.exists()
    page = Client()
    page.force_login(admin_user)
    listing = page.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and b"ana" in listing.content  # the admin sees who is locked
    call_command("axes_reset_username", "ana")
    call_command("axes_reset_ip", "198.51.100.20")
    client, response = _sign_in("/accounts/login/", "ana", "s3cret-pass")
    assert response.status_code == 302 and _signed_in(client)


def test_the_lock_ends_after_the_cool_off(ana):
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            _sign_in("/accounts/login/", "ana", "wrong")
        assert _sign_in("/accounts/login/", "ana", "s3cret-pass")[1].status_code == 429
        clock.shift(dt.timedelta(minutes=16))
        client, response = _sign_in("/accounts/login/", "ana", "s3cret-pass")
    assert response.status_code == 302 and _signed_in(client)
