"""Fixtures of the dashboard's tests: a small demo portfolio with a few days of lived history."""

from __future__ import annotations

import pytest

from allocations.demo import demo_seed
from allocations.models import AllocationRun, Portfolio
from allocations.services.actors import Actor
from allocations.services.policies import policy_create_version
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import module_demo, world_kept_for_the_module

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


@pytest.fixture(scope="module")
def demo_world(django_db_setup, django_db_blocker):
    """The dashboard's world, seeded once per module (``world_kept_for_the_module``)."""
    with world_kept_for_the_module(django_db_blocker, seed_small):
        yield


@pytest.fixture
def demo(demo_world, db, request) -> Portfolio:
    return module_demo(request)
