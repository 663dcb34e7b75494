"""The seeded demo world the API and service tests start from (their conftests choose its size)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from allocations.models import AllocationPolicy, Portfolio
from allocations.services.demo import demo_seed


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
