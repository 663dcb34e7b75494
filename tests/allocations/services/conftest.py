"""Fixtures of the rebalance, approval and schedule service tests: the demo portfolio, its users."""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocations.models import Fund
from tests.allocations.demo_support import demo_users, module_demo, module_world, seeded_demo

EQUITY = Decimal("10000000.00")


def funds_of(portfolio) -> dict[str, Decimal]:
    """strategy code -> its fund."""
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy__code", "amount"))


demo_world = module_world(lambda: seeded_demo(strategies=16, days=80, seed=3))  # seeded once per module


@pytest.fixture
def demo(demo_world, db, request):
    return module_demo(request)


@pytest.fixture
def users(demo):
    return demo_users("pm", "risk", "risk2")
