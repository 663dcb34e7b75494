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


# A public address (no test connects to it) for the names the tests give webhooks: `.example` is
# reserved (RFC 2606) and resolves nowhere, and webhook targets must resolve to public addresses.
EXAMPLE_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def example_names_resolve(monkeypatch):
    from allocations.services import webhook_targets

    real = webhook_targets.resolve

    def resolve(host, port):
        return [EXAMPLE_ADDRESS] if host.endswith(".example") else real(host, port)

    monkeypatch.setattr(webhook_targets, "resolve", resolve)
