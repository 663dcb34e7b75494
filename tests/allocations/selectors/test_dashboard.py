"""The dashboard's per-strategy figures are the engine's: one formula, one convention (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest

from allocations import engine
from allocations.models import AllocationPolicy, Portfolio, StrategyReturn
from allocations.selectors.dashboard import allocation_snapshot
from allocations.services.actors import Actor
from allocations.services.run_inputs import RebalanceRequest, run_inputs_load
from tests.allocations.demo_support import seeded_demo

pytestmark = pytest.mark.django_db


def test_the_dashboard_shows_the_sharpe_return_and_volatility_a_rebalance_estimates():
    demo = seeded_demo(strategies=10, days=70, seed=4)
    AllocationPolicy.objects.filter(portfolio=demo).update(lookback_period=20, covariance_lookback=40)
    late = demo.strategies.order_by("id")[3]  # a gap inside the window: each strategy's last 20 observations
    recent = StrategyReturn.objects.filter(strategy=late).order_by("-date").values_list("pk", flat=True)[:5]
    StrategyReturn.objects.filter(pk__in=list(recent)).delete()  # its snapshot is dropped with them (trigger)
    demo = Portfolio.objects.get(pk=demo.pk)

    inputs = run_inputs_load(portfolio=demo, actor=Actor.system("test"), request=RebalanceRequest(dry_run=True))
    policy = engine.AllocationPolicy(lookback=20, covariance_lookback=40)
    stats = engine.return_stats(inputs.panel, policy.lookback)
    by_code = {row["code"]: row for row in allocation_snapshot(portfolio=demo)["strategies"]}
    compared = 0
    for j, code in enumerate(inputs.universe.codes):
        shown = by_code[code]
        for name, value in (
            ("sharpe", stats.sharpe[j]),
            ("volatility", stats.volatility[j]),
            ("return", stats.mean[j] * engine.TRADING_DAYS),
        ):
            if np.isfinite(value):
                assert shown[name] == pytest.approx(float(value), rel=1e-12), (code, name)
                compared += 1
            else:
                assert shown[name] is None, (code, name)
    assert compared >= 3 * 9
