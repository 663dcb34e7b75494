"""Fixtures of the rebalance, approval and schedule service tests: the demo portfolio, its users."""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocations.models import Fund
from tests.allocations.demo_support import demo_users, module_demo, seeded_demo, world_kept_for_the_module

EQUITY = Decimal("10000000.00")


def funds_of(portfolio) -> dict[str, Decimal]:
    """strategy code -> its fund."""
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy__code", "amount"))


@pytest.fixture(scope="module")
def demo_world(django_db_setup, django_db_blocker):
    """The services' world, seeded once per module (``world_kept_for_the_module``)."""
    with world_kept_for_the_module(django_db_blocker, lambda: seeded_demo(strategies=16, days=80, seed=3)):
        yield


@pytest.fixture
def demo(demo_world, db, request):
    return module_demo(request)


@pytest.fixture
def users(demo):
    return demo_users("pm", "risk", "risk2")
