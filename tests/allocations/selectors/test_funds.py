"""allocations/selectors/funds.py: a portfolio's total capital."""

from __future__ import annotations

from decimal import Decimal

from allocations.selectors.funds import fund_total_capital
from allocations.services.funds import funds_set_many
from tests.factories import StrategyFactory


def test_fund_total_capital(portfolio, other_portfolio, strategies, actor):
    assert fund_total_capital(portfolio=portfolio) == Decimal("0.00")
    theirs = StrategyFactory(portfolio=other_portfolio, code="theirs")
    s = strategies
    funds_set_many(
        portfolio=portfolio,
        amounts={s["tech-a"].pk: Decimal("1234.56"), s["tech-b"].pk: Decimal("0.44"), s["ener-a"].pk: Decimal("10")},
        actor=actor,
    )
    funds_set_many(portfolio=other_portfolio, amounts={theirs.pk: Decimal("999.99")}, actor=actor)
    total = fund_total_capital(portfolio=portfolio)
    assert total == Decimal("1245.00") and total.as_tuple().exponent == -2
    assert fund_total_capital(portfolio=other_portfolio) == Decimal("999.99")
