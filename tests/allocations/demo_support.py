"""The seeded demo world the API and service tests start from (their conftests choose its size)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from allocations.demo import demo_seed
from allocations.models import AllocationPolicy, Portfolio


def seeded_demo(*, strategies: int, days: int, seed: int) -> Portfolio:
    """``demo_seed`` with these sizes; the portfolio ``demo`` (``demo-b`` is seeded beside it)."""
    demo_seed(strategies=strategies, days=days, seed=seed)
    return Portfolio.objects.get(slug="demo")


def demo_users(*usernames: str) -> dict:
    """username -> the seeded demo user of that name."""
    return {user.username: user for user in get_user_model().objects.filter(username__in=usernames)}


def set_policy(portfolio, **fields):
    """Change the current policy row in place (test set-up only; the services make new versions)."""
    AllocationPolicy.objects.filter(portfolio=portfolio).update(**fields)


@contextmanager
def world_kept_for_the_module(django_db_blocker, seed):
    """Seed once for a test module: ``seed()`` runs inside an outer transaction that every test of the
    module nests in (each test's own transaction is a savepoint rolled back after it, as with Django's
    ``setUpTestData``), and the outer one is rolled back after the module: the next module starts from
    the empty database. Seeding the same world for each of 372 tests took half of the suite's time."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            seed()
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def module_demo(request) -> Portfolio:
    """The ``demo`` portfolio of the module's world, for a test in a rolled-back transaction. A test that
    commits (``transactional_db``, ``transaction=True``, a live server) would commit into the module's
    outer transaction, which never commits: refused, so it seeds its own world instead."""
    marker = request.node.get_closest_marker("django_db")
    committing = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if committing:
        raise pytest.UsageError(f"{request.node.nodeid}: a test that commits seeds its own world (seeded_demo)")
    return Portfolio.objects.get(slug="demo")


def module_world(setup):
    """A module-scoped ``demo_world`` fixture holding the world ``setup()`` writes, seeded once for the
    module (``world_kept_for_the_module``): ``demo_world = module_world(...)`` in a conftest or module."""

    @pytest.fixture(scope="module")
    def demo_world(django_db_setup, django_db_blocker):
        with world_kept_for_the_module(django_db_blocker, setup):
            yield

    return demo_world
