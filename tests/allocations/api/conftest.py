"""The API's world: the demo portfolio and demo-b, one user per role granted on demo only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from allocations.models import Portfolio
from tests.allocations.demo_support import demo_users, module_demo, module_world, seeded_demo, set_policy

ROLES = ("viewer", "portfolio_manager", "risk_officer", "integration", "superuser", "anonymous")
USERNAME = {
    "viewer": "viewer",
    "portfolio_manager": "pm",
    "risk_officer": "risk",
    "integration": "integration",
    "superuser": "admin",
}


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(fresh_throttle_counts):
    """Throttle counters live in the cache; each test starts from zero."""


demo_world = module_world(lambda: seeded_demo(strategies=12, days=60, seed=5))  # seeded once per module


@pytest.fixture
def demo(demo_world, db, request):
    return module_demo(request)


@pytest.fixture
def demo_b(demo):
    return Portfolio.objects.get(slug="demo-b")


@pytest.fixture
def users(demo):
    return demo_users("admin", "risk", "risk2", "pm", "viewer", "integration")


@pytest.fixture
def client_as(users):
    """``client_as("pm")``: an API client authenticated as that demo user (None: anonymous)."""

    def make(username: str | None) -> APIClient:
        client = APIClient()
        if username is not None:
            client.force_authenticate(user=users[username])
        return client

    return make


@pytest.fixture
def runs(demo, users):
    """An active multi-step schedule (from an applied run) and a run pending approval, both asked by pm.

    ``{"applied": run, "pending": run, "schedule": schedule}``.
    """
    from allocations.services.actors import Actor
    from allocations.services.runs import RebalanceRequest, allocation_run_create

    pm = Actor.of_user(users["pm"])
    set_policy(demo, approval_threshold=2.0, min_change_threshold=0.0, max_daily_change=0.01)
    applied = allocation_run_create(
        portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="risk_parity")
    ).run
    set_policy(demo, approval_threshold=0.0)
    pending = allocation_run_create(
        portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="momentum")
    ).run
    assert applied.status == "applied" and pending.status == "pending_approval"
    schedule = applied.schedule
    assert schedule.status == "active" and schedule.steps.count() > 1
    return {"applied": applied, "pending": pending, "schedule": schedule}
