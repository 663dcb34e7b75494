"""Reads of a portfolio's strategies, their returns, the sectors they belong to and the sectors' signals."""

from __future__ import annotations

from django.db.models import QuerySet

from allocations.models import Portfolio, Sector, SectorSignal, Strategy, StrategyReturn

from .ordering import newest_first


def strategy_list(*, portfolio: Portfolio) -> QuerySet[Strategy]:
    return Strategy.objects.filter(portfolio=portfolio).select_related("sector").order_by("code")


def strategy_get(*, portfolio: Portfolio, code: str) -> Strategy | None:
    return Strategy.objects.filter(portfolio=portfolio, code=code).select_related("sector").first()


def strategy_list_with_funds(*, portfolio: Portfolio) -> QuerySet[Strategy]:
    return strategy_list(portfolio=portfolio).select_related("fund")


def strategy_return_list(*, portfolio: Portfolio) -> QuerySet[StrategyReturn]:
    return (
        StrategyReturn.objects.filter(strategy__portfolio=portfolio)
        .select_related("strategy")
        .order_by("-date", "strategy__code")
    )


def strategy_codes_by_id(*, portfolio: Portfolio) -> dict[int, str]:
    return dict(Strategy.objects.filter(portfolio=portfolio).values_list("id", "code"))


def sector_codes() -> set[str]:
    """The codes of every sector."""
    return set(Sector.objects.values_list("code", flat=True))


def sector_get(*, code: str) -> Sector | None:
    return Sector.objects.filter(code=code).first()


def signal_list(*, portfolio: Portfolio) -> QuerySet[SectorSignal]:
    return newest_first(SectorSignal, portfolio=portfolio, related=("sector",), by="as_of")
