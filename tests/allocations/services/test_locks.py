"""The portfolio lock: a change stuck behind another change of the same portfolio gives up in bounded time."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection
from django.test import override_settings

from allocations.demo import demo_seed
from allocations.errors import PortfolioBusyError
from allocations.models import AllocationPolicy, Portfolio
from allocations.services.actors import Actor
from allocations.services.policies import policy_create_version
from allocations.services.runs import RebalanceRequest, allocation_run_create


def _other_connection():
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=False,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(PORTFOLIO_LOCK_TIMEOUT_MS=300)
def test_a_change_behind_a_held_portfolio_lock_answers_busy_in_bounded_time():
    """Issue 8 item 1: a portfolio whose lock was held (by a planner looping at 100% CPU) made every
    later change, the policy fix included, wait until the server restarted."""
    demo_seed(strategies=8, days=40, seed=1)
    demo = Portfolio.objects.get(slug="demo")
    actor = Actor.system("test")
    holder = _other_connection()
    try:
        holder.execute("SELECT id FROM allocations_portfolio WHERE id = %s FOR UPDATE", [demo.pk])
        started = time.monotonic()
        with pytest.raises(PortfolioBusyError) as err:
            allocation_run_create(portfolio=demo, actor=actor, request=RebalanceRequest())
        assert err.value.field == "portfolio"
        with pytest.raises(PortfolioBusyError):
            policy_create_version(portfolio=demo, actor=actor, changes={"max_daily_change": 0.2})
        assert time.monotonic() - started < 5
    finally:
        holder.rollback()
        holder.close()
    # the lock released, the same change goes through
    policy_create_version(portfolio=demo, actor=actor, changes={"max_daily_change": 0.2})
    assert AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first().max_daily_change == 0.2
