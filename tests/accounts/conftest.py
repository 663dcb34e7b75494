"""The accounts API tests' world: a viewer, ana, and throttle counts from zero in every test."""

from __future__ import annotations

import pytest

from accounts import roles
from accounts.services import roles_ensure, user_ensure


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(fresh_throttle_counts):
    """Login attempts are throttled: each test starts from zero."""


@pytest.fixture
def ana(db):
    """A viewer who logs in as ana / s3cret-pass."""
    roles_ensure()
    user, _ = user_ensure(username="ana", role=roles.VIEWER, password="s3cret-pass")
    return user
