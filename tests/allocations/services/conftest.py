"""Fixtures of the rebalance, approval and schedule service tests: the demo portfolio, its users."""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocations.models import AllocationPolicy, Fund, Portfolio
from allocations.services.demo import demo_seed

EQUITY = Decimal("10000000.00")


def funds_of(portfolio) -> dict[str, Decimal]:
    """strategy code -> its fund."""
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy__code", "amount"))


def set_policy(portfolio, **fields):
    """Change the current policy row in place (test set-up only; the service makes new versions)."""
    AllocationPolicy.objects.filter(portfolio=portfolio).update(**fields)


@pytest.fixture
def demo(db):
    demo_seed(strategies=16, days=80, seed=3)
    return Portfolio.objects.get(slug="demo")


@pytest.fixture
def users(demo):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    return {name: User.objects.get(username=name) for name in ("pm", "risk", "risk2")}
