"""Fixtures of the dashboard's tests: a small demo portfolio with a few days of lived history."""

from __future__ import annotations

import pytest

from allocations.demo import demo_seed
from allocations.models import AllocationRun, Portfolio
from allocations.services.actors import Actor
from allocations.services.policies import policy_create_version
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import module_demo, module_world

HISTORY_DAYS = 6


def seed_small() -> Portfolio:
    demo_seed(strategies=12, days=70, seed=3, history_days=HISTORY_DAYS)
    return Portfolio.objects.get(slug="demo")


def pending_run(portfolio: Portfolio, user) -> AllocationRun:
    """A run of ``user`` that waits for a second risk officer (the approval threshold set to 0)."""
    actor = Actor.of_user(user, via="test")
    policy_create_version(portfolio=portfolio, actor=actor, reason="test", changes={"approval_threshold": 0.0})
    outcome = allocation_run_create(
        portfolio=portfolio, actor=actor, request=RebalanceRequest(allocation_method="equal_weight")
    )
    assert outcome.status == AllocationRun.Status.PENDING_APPROVAL
    return outcome.run


demo_world = module_world(seed_small)  # seeded once per module


@pytest.fixture
def demo(demo_world, db, request) -> Portfolio:
    return module_demo(request)
