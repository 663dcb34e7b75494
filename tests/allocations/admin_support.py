"""What the admin tests share: the demo world with one password for every user, and a logged-in client."""

from __future__ import annotations

import pytest
from django.test import Client

from allocations.demo import demo_seed
from allocations.models import Portfolio
from tests.allocations.demo_support import world_kept_for_the_module

DEMO_PASSWORD = "pw-demo"


def demo_seeded(*, strategies: int = 12, days: int = 60, seed: int = 11) -> Portfolio:
    """The demo world (portfolios demo and demo-b, a user per role, all with ``DEMO_PASSWORD``); its demo portfolio."""
    demo_seed(strategies=strategies, days=days, seed=seed, password=DEMO_PASSWORD)
    return Portfolio.objects.get(slug="demo")


def logged_in(username: str) -> Client:
    """A test client logged in as ``username`` of the demo world."""
    client = Client()
    assert client.login(username=username, password=DEMO_PASSWORD)
    return client


def module_world(setup=demo_seeded):
    """A module-scoped fixture holding the world ``setup()`` writes, seeded once for the module
    (``world_kept_for_the_module``): ``demo_world = module_world()`` in the test module."""

    @pytest.fixture(scope="module")
    def demo_world(django_db_setup, django_db_blocker):
        with world_kept_for_the_module(django_db_blocker, setup):
            yield

    return demo_world
