"""Fixtures shared by the allocation tests: a portfolio with a few strategies, an actor."""

from __future__ import annotations

import pytest

from allocations.services.actors import Actor
from tests.factories import PortfolioFactory, SectorFactory, StrategyFactory, UserFactory


@pytest.fixture
def portfolio(db):
    return PortfolioFactory(slug="alpha", name="Alpha")


@pytest.fixture
def other_portfolio(db):
    return PortfolioFactory(slug="beta", name="Beta")


@pytest.fixture
def strategies(portfolio):
    """Three strategies of ``portfolio`` in two sectors, by code."""
    tech = SectorFactory(code="technology")
    energy = SectorFactory(code="energy")
    return {
        "tech-a": StrategyFactory(portfolio=portfolio, code="tech-a", sector=tech),
        "tech-b": StrategyFactory(portfolio=portfolio, code="tech-b", sector=tech),
        "ener-a": StrategyFactory(portfolio=portfolio, code="ener-a", sector=energy),
    }


@pytest.fixture
def risk_user(db):
    return UserFactory(username="risk-officer")


@pytest.fixture
def actor(risk_user):
    return Actor.of_user(risk_user)
