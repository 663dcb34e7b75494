"""GET .../allocation/performance and .../current against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import roles
from accounts.services import portfolio_grant, user_ensure
from allocations import clock
from allocations.services.actors import Actor
from allocations.services.funds import funds_set_many
from allocations.services.policies import policy_create_version
from tests.factories import PortfolioFactory, SectorFactory, StrategyFactory, StrategyReturnFactory

DAYS = [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)]
RETURNS = {  # strategy -> daily returns on DAYS
    "a": [0.01, -0.02, 0.015, 0.005, -0.01],
    "b": [0.002, 0.004, -0.003, 0.001, 0.0],
    "c": [-0.01, 0.03, 0.02, -0.025, 0.01],
}
EQUITY = Decimal("1000.00")


def at(year, month, day, hour):
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def book(db):
    """Equity 1,000: a 300, b 200, c 100 from 29 Dec 2023; a raised to 500 on 2 Jan 2024 (after the close)."""
    portfolio = PortfolioFactory(slug="book", total_equity=EQUITY)
    tech, energy = SectorFactory(code="technology"), SectorFactory(code="energy")
    strategies = {
        "a": StrategyFactory(portfolio=portfolio, code="a", sector=tech),
        "b": StrategyFactory(portfolio=portfolio, code="b", sector=tech),
        "c": StrategyFactory(portfolio=portfolio, code="c", sector=energy),
    }
    for code, values in RETURNS.items():
        for day, value in zip(DAYS, values, strict=True):
            StrategyReturnFactory(strategy=strategies[code], date=day, value=value)
    actor = Actor.command("tests")
    policy_create_version(portfolio=portfolio, actor=actor, changes={"covariance_estimator": "sample"})
    ids = {code: s.pk for code, s in strategies.items()}
    with clock.effective(at(2023, 12, 29, 12)):
        funds_set_many(
            portfolio=portfolio,
            amounts={ids["a"]: Decimal("300"), ids["b"]: Decimal("200"), ids["c"]: Decimal("100")},
            actor=actor,
        )
    with clock.effective(at(2024, 1, 2, 20)):
        funds_set_many(portfolio=portfolio, amounts={ids["a"]: Decimal("500")}, actor=actor)
    user, _ = user_ensure(username="reader", role=roles.VIEWER, password="pw")
    portfolio_grant(user=user, portfolio=portfolio, role=roles.VIEWER)
    return portfolio, user


def hand_metrics(series: list[float]) -> dict:
    value, peak, drawdown = 1.0, 1.0, 0.0
    for r in series:
        value *= 1 + r
        peak = max(peak, value)
        drawdown = max(drawdown, 1 - value / peak)
    sd = statistics.stdev(series)
    return {
        "days": len(series),
        "total_return": value - 1,
        "annualised_volatility": sd * math.sqrt(252),
        "max_drawdown": drawdown,
        "sharpe": statistics.fmean(series) / sd * math.sqrt(252),
    }


def portfolio_return(weights: dict[str, float], t: int) -> float:
    return sum(w * RETURNS[code][t] for code, w in weights.items())


def get(client_as_user, path):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(client_as_user)
    return client.get(path)


def test_history_follows_the_funds_in_force_each_day(book):
    portfolio, user = book
    before = {"a": 0.3, "b": 0.2, "c": 0.1}
    after = {"a": 0.5, "b": 0.2, "c": 0.1}
    # the change on 2 Jan (after the close) first earns 3 Jan's return
    series = [portfolio_return(before, 0), portfolio_return(before, 1)] + [
        portfolio_return(after, t) for t in (2, 3, 4)
    ]
    body = get(user, "/api/v1/portfolios/book/allocation/performance").json()
    expected = hand_metrics(series)
    history = body["history"]
    assert history["start"] == "2024-01-01" and history["end"] == "2024-01-05"
    for key, value in expected.items():
        assert history[key] == pytest.approx(value, rel=1e-12), key


def test_current_allocation_backtest_holds_todays_weights(book):
    portfolio, user = book
    now = {"a": 0.5, "b": 0.2, "c": 0.1}
    expected = hand_metrics([portfolio_return(now, t) for t in range(5)])
    body = get(user, "/api/v1/portfolios/book/allocation/performance").json()
    for key, value in expected.items():
        assert body["current_allocation_backtest"][key] == pytest.approx(value, rel=1e-12), key


def test_sector_exposures_are_funds_over_equity_not_over_funds(book):
    portfolio, user = book
    body = get(user, "/api/v1/portfolios/book/allocation/performance").json()
    # technology: (500 + 200) / 1000; energy: 100 / 1000. Over total funds (800) it would be 0.875 / 0.125.
    assert body["sector_exposures"] == pytest.approx({"technology": 0.7, "energy": 0.1}, rel=1e-15)


def test_risk_metrics(book):
    portfolio, user = book
    w = {"a": 0.5, "b": 0.2, "c": 0.1}
    codes = list(w)
    variance = sum(
        w[i] * w[j] * statistics.covariance(RETURNS[i], RETURNS[j]) for i in codes for j in codes
    )  # sample covariance, as the policy says
    risk = get(user, "/api/v1/portfolios/book/allocation/performance").json()["risk"]
    assert risk["ex_ante_volatility"] == pytest.approx(math.sqrt(252 * variance), rel=1e-9)
    assert risk["effective_number_of_strategies"] == pytest.approx(64 / 30, rel=1e-12)  # p = (5, 2, 1) / 8
    assert risk["largest_weight"] == pytest.approx(0.5) and risk["largest_weight_strategy"] == "a"
    assert risk["cash"] == pytest.approx(0.2) and risk["invested"] == pytest.approx(0.8)
    assert risk["covariance_estimator"] == "sample"


def test_a_fresh_portfolio_has_a_backtest_but_no_history(client_as, demo):
    body = client_as("viewer").get("/api/v1/portfolios/demo/allocation/performance").json()
    assert body["history"]["days"] == 0 and body["history"]["total_return"] is None
    assert body["current_allocation_backtest"]["days"] == 60
    assert body["risk"]["ex_ante_volatility"] > 0
    assert sum(body["sector_exposures"].values()) == pytest.approx(1.0, abs=1e-6)


def test_a_portfolio_without_funds_or_returns_answers_nulls_not_errors(db):
    portfolio = PortfolioFactory(slug="empty", total_equity=Decimal("0"))
    user, _ = user_ensure(username="empty-viewer", role=roles.VIEWER, password="pw")
    portfolio_grant(user=user, portfolio=portfolio, role=roles.VIEWER)
    response = get(user, "/api/v1/portfolios/empty/allocation/performance")
    assert response.status_code == 200
    assert response.json()["risk"]["ex_ante_volatility"] is None
    assert get(user, "/api/v1/portfolios/empty/allocation/current").status_code == 200
    assert get(user, "/api/v1/portfolios/empty/allocation/methods").json()["current_method"] is None


def test_current_allocation_weights_amounts_and_last_ten_changes(book):
    portfolio, user = book
    body = get(user, "/api/v1/portfolios/book/allocation/current").json()
    assert body["total_equity"] == "1000.00" and body["total_capital"] == "800.00" and body["cash"] == "200.00"
    assert body["allocation"] == pytest.approx({"a": 0.625, "b": 0.25, "c": 0.125})  # of capital
    assert body["equity_weights"] == pytest.approx({"a": 0.5, "b": 0.2, "c": 0.1})
    assert body["amounts"] == {"a": "500.00", "b": "200.00", "c": "100.00"}
    changes = body["recent_changes"]
    assert len(changes) == 4 and changes[0]["strategy"] == "a" and changes[0]["new_amount"] == "500.00"
    assert changes[0]["old_amount"] == "300.00"
    assert timezone.now() - dt.datetime.fromisoformat(body["timestamp"]) < dt.timedelta(minutes=1)


def test_methods_lists_every_engine_method_and_the_current_one(client_as, demo):
    from allocations.engine import METHODS

    body = client_as("viewer").get("/api/v1/portfolios/demo/allocation/methods").json()
    assert body == {"methods": list(METHODS), "current_method": "hybrid"}
    response = client_as("risk").put("/api/v1/portfolios/demo/allocation/method/momentum", {}, format="json")
    assert response.status_code == 202 and response.json()["changes"] == {"method": "momentum"}
    assert client_as("viewer").get("/api/v1/portfolios/demo/allocation/methods").json()["current_method"] == "hybrid"
    approve = f"/api/v1/portfolios/demo/policy/proposals/{response.json()['id']}/approve/"
    approved = client_as("risk2").post(approve, {"reason": "agreed"}, format="json")
    assert approved.status_code == 200 and approved.json()["applied_version"] == 2
    assert client_as("viewer").get("/api/v1/portfolios/demo/allocation/methods").json()["current_method"] == "momentum"
