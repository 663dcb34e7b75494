"""Token revocation: on request, on a password change and on deactivation, and not otherwise."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import roles
from accounts.services import roles_ensure, user_ensure, user_tokens_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana():
    roles_ensure()
    user, _ = user_ensure(username="ana", role=roles.VIEWER, password="s3cret-pass")
    return user


@pytest.fixture
def bob():
    roles_ensure()
    user, _ = user_ensure(username="bob", role=roles.VIEWER, password="other-pass")
    return user


@pytest.fixture
def tokens(ana, bob):
    for user in (ana, ana, bob):
        AuthToken.objects.create(user)


def _count(user) -> int:
    return AuthToken.objects.filter(user=user).count()


def test_user_tokens_revoke_deletes_every_token_of_that_user_only(ana, bob, tokens):
    assert user_tokens_revoke(user=ana) == 2
    assert (_count(ana), _count(bob)) == (0, 1)


def test_a_password_change_revokes_every_token_of_the_user(ana, bob, tokens):
    ana.set_password("a-new-pass-phrase")
    ana.save()
    assert (_count(ana), _count(bob)) == (0, 1)


def test_a_password_change_in_the_admin_revokes_every_token(ana, tokens):
    admin, _ = user_ensure(username="root", role=roles.ADMINISTRATOR, password="root-pass")
    client = APIClient()
    client.force_login(admin)
    response = client.post(
        f"/admin/auth/user/{ana.pk}/password/",
        {"password1": "a-new-pass-phrase", "password2": "a-new-pass-phrase", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _count(ana) == 0


def test_deactivating_a_user_revokes_every_token(ana, bob, tokens):
    ana.is_active = False
    ana.save(update_fields=["is_active"])
    assert (_count(ana), _count(bob)) == (0, 1)


def test_saving_other_fields_keeps_the_tokens(ana, tokens):
    ana.email = "ana@new.example.com"
    ana.save()
    ana.save(update_fields=["last_login"])
    assert _count(ana) == 2


def test_a_password_hash_upgrade_at_login_keeps_the_tokens(ana, tokens):
    """Django re-hashes a weak stored hash at the next login: the password itself did not change."""
    ana.password = make_password("s3cret-pass", salt="ab", hasher="md5")  # too little salt: upgraded
    ana.save(update_fields=["password"])
    assert _count(ana) == 2
    response = APIClient().post("/api/v1/auth/token/", {"username": "ana", "password": "s3cret-pass"}, format="json")
    assert response.status_code == 200
    ana.refresh_from_db()
    assert ana.password.split("$")[2] != "ab"  # upgraded
    assert _count(ana) == 3
