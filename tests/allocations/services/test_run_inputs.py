"""What a rebalance decides from: stale strategies are held and flagged (issue 9 item 7, service side)."""

from __future__ import annotations

import pytest

from allocations.models import StrategyReturn
from allocations.selectors.portfolios import portfolio_today
from allocations.services.actors import Actor
from allocations.services.run_inputs import RebalanceRequest, run_inputs_load
from allocations.services.runs import allocation_run_create
from tests.allocations.demo_support import set_policy


def test_a_strategy_without_returns_for_longer_than_the_policy_allows_is_held_and_flagged_stale(demo):
    stale = demo.strategies.order_by("code").first()
    last_dates = sorted(StrategyReturn.objects.filter(strategy=stale).values_list("date", flat=True))
    StrategyReturn.objects.filter(strategy=stale, date__gt=last_dates[-25]).delete()  # 24 business days missing
    set_policy(demo, stale_after_days=10)
    actor = Actor.system("test")
    inputs = run_inputs_load(portfolio=demo, actor=actor, request=RebalanceRequest(dry_run=True))
    column = inputs.universe.codes.index(stale.code)
    assert inputs.age_days[column] >= 24 and inputs.today == portfolio_today(demo)
    assert (inputs.age_days[[j for j in range(len(inputs.universe)) if j != column]] <= 1).all()

    outcome = allocation_run_create(portfolio=demo, actor=actor, request=RebalanceRequest(dry_run=True))
    row = outcome.explanation_rows()["strategies"][stale.code]
    assert row["flags"] == ["stale"]
    assert outcome.target_allocation[stale.code] == pytest.approx(outcome.current_allocation[stale.code], abs=1e-12)
    # a looser policy scores it again
    set_policy(demo, stale_after_days=60)
    again = allocation_run_create(portfolio=demo, actor=actor, request=RebalanceRequest(dry_run=True))
    assert again.explanation_rows()["strategies"][stale.code]["flags"] == []
