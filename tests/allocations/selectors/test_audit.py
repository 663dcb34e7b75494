"""allocations/selectors/audit.py: the recent fund changes of the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

from allocations.models import AuditEntry, Portfolio
from allocations.selectors.audit import fund_changes_recent
from allocations.services.funds import funds_set_many
from allocations.services.strategies import strategy_update
from tests.factories import StrategyFactory


def test_fund_changes_recent_newest_first_fund_changes_only(portfolio, other_portfolio, strategies, actor):
    s = strategies
    clock = dt.datetime(2024, 1, 2, 9, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=clock):
        funds_set_many(
            portfolio=portfolio, amounts={s["tech-a"].pk: Decimal("100"), s["tech-b"].pk: Decimal("200")}, actor=actor
        )
    with mock.patch("django.utils.timezone.now", return_value=clock + dt.timedelta(hours=1)):
        strategy_update(strategy=s["ener-a"], actor=actor, changes={"status": "paused"})  # not a fund change
        funds_set_many(portfolio=portfolio, amounts={s["tech-a"].pk: Decimal("150")}, actor=actor)
    theirs = StrategyFactory(portfolio=other_portfolio, code="theirs")
    funds_set_many(portfolio=other_portfolio, amounts={theirs.pk: Decimal("1")}, actor=actor)

    rows = fund_changes_recent(portfolio=portfolio)
    assert [(r.strategy.code, r.old_amount, r.new_amount) for r in rows] == [
        ("tech-a", Decimal("100.00"), Decimal("150.00")),
        ("tech-b", Decimal("0.00"), Decimal("200.00")),  # same moment as the next: the later row first
        ("tech-a", Decimal("0.00"), Decimal("100.00")),
    ]
    assert all(r.kind == AuditEntry.Kind.FUND_CHANGE and r.portfolio_id == portfolio.pk for r in rows)
    assert [r.strategy.code for r in fund_changes_recent(portfolio=portfolio, limit=1)] == ["tech-a"]
    assert AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.STRATEGY_CHANGE).count() == 1


def test_fund_changes_recent_stops_at_the_limit(portfolio, strategies, actor):
    a = strategies["tech-a"]
    for k in range(1, 13):
        funds_set_many(portfolio=portfolio, amounts={a.pk: Decimal(k)}, actor=actor)
    rows = fund_changes_recent(portfolio=portfolio)
    assert [r.new_amount for r in rows] == [Decimal(k) for k in range(12, 2, -1)]  # the default 10, newest first
    assert Portfolio.objects.get(pk=portfolio.pk).audit_entries.count() == 12
