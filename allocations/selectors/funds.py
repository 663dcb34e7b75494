"""Reads of a portfolio's capital: the funds of its strategies and the changes to its equity."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet, Sum

from allocations.models import EquityChange, Fund, Portfolio
from allocations.money import CENT

from .ordering import newest_first


def fund_list(*, portfolio: Portfolio) -> QuerySet[Fund]:
    return Fund.objects.filter(strategy__portfolio=portfolio).select_related("strategy").order_by("strategy__code")


def fund_total_capital(*, portfolio: Portfolio) -> Decimal:
    total = fund_list(portfolio=portfolio).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal("0")).quantize(CENT)


def fund_weights(*, portfolio: Portfolio) -> dict[str, float]:
    """Each strategy's share of the total allocated capital (the specification's weights)."""
    amounts = dict(fund_list(portfolio=portfolio).values_list("strategy__code", "amount"))
    total = sum(amounts.values(), Decimal("0"))
    if total == 0:
        return {}
    return {code: float(amount / total) for code, amount in amounts.items()}


def equity_change_list(*, portfolio: Portfolio) -> QuerySet[EquityChange]:
    return newest_first(EquityChange, portfolio=portfolio, related=("requested_by", "decided_by"), by="requested_at")


def equity_change_get(*, portfolio: Portfolio, change_id: int) -> EquityChange | None:
    return equity_change_list(portfolio=portfolio).filter(pk=change_id).first()
