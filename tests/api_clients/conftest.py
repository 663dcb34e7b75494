"""The schema once per session, and the live server with the seeded demo each flow runs against."""

from __future__ import annotations

import pytest

from tests.allocations.demo_support import demo_users, seeded_demo, set_policy

from .support import World, write_schema

PASSWORD = "generated-client-flow"


@pytest.fixture(scope="session")
def schema_file(tmp_path_factory):
    """The OpenAPI document as a file, written once for both generators."""
    return write_schema(tmp_path_factory.mktemp("openapi"))


@pytest.fixture
def world(live_server, fresh_throttle_counts) -> World:
    """The demo seeded on the live server (transactional database); every real run waits for approval."""
    from allocations.models import StrategyReturn

    demo = seeded_demo(strategies=12, days=60, seed=5)
    set_policy(demo, approval_threshold=0.0)
    world = World(
        base_url=live_server.url,
        portfolio=demo.slug,
        password=PASSWORD,
        returns_date=StrategyReturn.objects.filter(strategy__portfolio=demo).latest("date").date.isoformat(),
    )
    users = demo_users(world.integration, world.requester, world.approver, world.viewer)
    assert len(users) == 4, sorted(users)
    for user in users.values():
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return world
