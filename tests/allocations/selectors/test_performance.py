"""allocations/selectors/performance.py one level below the API: ``path_metrics`` by hand and
``portfolio_performance`` on tiny books whose numbers are worked out here.

The API tests (tests/allocations/api/test_performance.py) cover the book of three funded
strategies with complete returns; these cover missing returns, a funded strategy without any,
an unfunded one, a window shorter than the history, cash, and a portfolio without equity.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from allocations import clock, engine
from allocations.models import Portfolio
from allocations.selectors.performance import path_metrics, portfolio_performance
from allocations.services.actors import Actor
from allocations.services.funds import funds_set_many
from allocations.services.policies import policy_create_version
from tests.factories import PortfolioFactory, SectorFactory, StrategyFactory, StrategyReturnFactory

# --- path_metrics by hand ---------------------------------------------------------------------


def test_path_metrics_by_hand():
    days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    got = path_metrics(np.array([0.1, -0.2, 0.05]), days)
    # value 1 -> 1.1 -> 0.88 -> 0.924; the peak 1.1 falls to 0.88: a drawdown of 0.2
    # mean -1/60, deviations (7, -11, 4)/60, sample variance 186/3600/2 = 93/3600, s = sqrt(93)/60
    assert got["days"] == 3 and got["start"] == days[0] and got["end"] == days[-1]
    assert got["total_return"] == pytest.approx(-0.076, rel=1e-13)
    assert got["max_drawdown"] == pytest.approx(0.2, rel=1e-13)
    assert got["annualised_volatility"] == pytest.approx(math.sqrt(93) / 60 * math.sqrt(252), rel=1e-13)
    assert got["sharpe"] == pytest.approx(-math.sqrt(252 / 93), rel=1e-13)


def test_path_metrics_of_a_rising_path_has_no_drawdown():
    got = path_metrics(np.array([0.01, 0.02, 0.03, 0.04]), [dt.date(2024, 1, d) for d in (1, 2, 3, 4)])
    assert got["max_drawdown"] == 0.0
    assert got["total_return"] == pytest.approx(1.01 * 1.02 * 1.03 * 1.04 - 1, rel=1e-14)
    # mean 0.025, s = sqrt(0.0005/3)
    assert got["sharpe"] == pytest.approx(0.025 / math.sqrt(0.0005 / 3) * math.sqrt(252), rel=1e-12)


def test_path_metrics_drawdown_is_measured_from_the_running_peak():
    # 1 -> 1.5 -> 0.75 -> 1.5 -> 0.6: the deepest fall is 1.5 -> 0.6 (0.6), not 1 -> 0.6 (0.4)
    got = path_metrics(np.array([0.5, -0.5, 1.0, -0.6]), [dt.date(2024, 1, d) for d in (1, 2, 3, 4)])
    assert got["max_drawdown"] == pytest.approx(0.6, rel=1e-14)
    assert got["total_return"] == pytest.approx(-0.4, rel=1e-14)


def test_path_metrics_of_one_day_and_of_a_flat_path():
    one = path_metrics(np.array([-0.03]), [dt.date(2024, 1, 2)])
    assert one["days"] == 1 and one["start"] == one["end"] == dt.date(2024, 1, 2)
    assert one["total_return"] == pytest.approx(-0.03, rel=1e-14)
    assert one["max_drawdown"] == pytest.approx(0.03, rel=1e-14)
    assert one["annualised_volatility"] is None and one["sharpe"] is None
    flat = path_metrics(np.array([0.25, 0.25, 0.25, 0.25]), [dt.date(2024, 1, d) for d in (1, 2, 3, 4)])
    assert flat["annualised_volatility"] == 0.0 and flat["sharpe"] is None  # no spread, no ratio
    assert flat["total_return"] == pytest.approx(1.25**4 - 1, rel=1e-14)


def test_path_metrics_of_nothing():
    got = path_metrics(np.empty(0), [])
    assert got.pop("days") == 0
    assert got == dict.fromkeys(
        ("start", "end", "total_return", "annualised_volatility", "max_drawdown", "sharpe"), None
    )


# --- portfolio_performance on a tiny book -----------------------------------------------------

DAYS = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10, 11, 12)]
EQUITY = Decimal("2000.00")
COV_WINDOW = 5


def hand_metrics(series: list[float]) -> dict:
    """Metrics of a return series from its value path and running peak, with the statistics module."""
    values = list(itertools.accumulate(series, lambda v, r: v * (1 + r), initial=1.0))
    peaks = itertools.accumulate(values, max)
    spread = statistics.stdev(series)
    return {
        "days": len(series),
        "total_return": values[-1] - 1,
        "annualised_volatility": spread * math.sqrt(252),
        "max_drawdown": max(1 - v / p for v, p in zip(values, peaks, strict=True)),
        "sharpe": math.sqrt(252) * statistics.fmean(series) / spread if spread > 0 else None,
    }


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


@pytest.fixture
def book(db):
    """Equity 2,000 in three sectors.

    a (technology) 600, b (technology) 400, c (energy) 200 raised to 500 on 5 Jan after the
    close, d (utilities) 300 with no return ever, e (energy) unfunded. a, b, c have returns on
    the first 8 days (b misses the first); e alone has a return on the 9th day.
    """
    rng = np.random.default_rng(2024)
    portfolio = PortfolioFactory(slug="tiny", total_equity=EQUITY)
    tech, energy, utilities = (SectorFactory(code=c) for c in ("technology", "energy", "utilities"))
    made = {
        "a": StrategyFactory(portfolio=portfolio, code="a", sector=tech),
        "b": StrategyFactory(portfolio=portfolio, code="b", sector=tech),
        "c": StrategyFactory(portfolio=portfolio, code="c", sector=energy),
        "d": StrategyFactory(portfolio=portfolio, code="d", sector=utilities),
        "e": StrategyFactory(portfolio=portfolio, code="e", sector=energy),
    }
    returns = {code: [None] * len(DAYS) for code in made}
    for code in ("a", "b", "c"):
        for t in range(8):
            returns[code][t] = float(np.round(rng.normal(5e-4, 0.01), 6))
    returns["b"][0] = None
    returns["e"] = [float(np.round(v, 6)) for v in rng.normal(0, 0.02, len(DAYS))]
    for code, series in returns.items():
        for day, value in zip(DAYS, series, strict=True):
            if value is not None:
                StrategyReturnFactory(strategy=made[code], date=day, value=value)
    actor = Actor.command("tests")
    policy_create_version(
        portfolio=portfolio, actor=actor, changes={"covariance_estimator": "sample", "covariance_lookback": COV_WINDOW}
    )
    ids = {code: s.pk for code, s in made.items()}
    with clock.effective(at(dt.date(2023, 12, 29), 12)):
        funds_set_many(
            portfolio=portfolio,
            amounts={
                ids["a"]: Decimal("600"),
                ids["b"]: Decimal("400"),
                ids["c"]: Decimal("200"),
                ids["d"]: Decimal("300"),
            },
            actor=actor,
        )
    with clock.effective(at(DAYS[3], 20)):
        funds_set_many(portfolio=portfolio, amounts={ids["c"]: Decimal("500")}, actor=actor)
    return portfolio, returns


def day_return(weights: dict[str, float], returns: dict, t: int) -> float:
    """The book's return on day ``t``: Σ w_i R_i with a missing return counting as 0."""
    return sum(w * (returns[code][t] or 0.0) for code, w in weights.items())


def test_sector_exposures_count_every_sector_over_the_equity(book):
    portfolio, _ = book
    got = portfolio_performance(portfolio=portfolio)["sector_exposures"]
    # technology (600 + 400) / 2000; energy (500 + 0) / 2000; utilities 300 / 2000
    assert got == pytest.approx({"technology": 0.5, "energy": 0.25, "utilities": 0.15}, rel=1e-15)
    assert list(got) == sorted(got)


def test_history_holds_the_funds_in_force_with_missing_returns_as_zero(book):
    portfolio, returns = book
    before = {"a": 0.3, "b": 0.2, "c": 0.1, "d": 0.15}
    after = {**before, "c": 0.25}
    # the change on 5 Jan (day 3) after the close first earns day 4's return
    series = [day_return(before, returns, t) for t in range(4)] + [day_return(after, returns, t) for t in range(4, 9)]
    history = portfolio_performance(portfolio=portfolio)["history"]
    assert history["start"] == DAYS[0] and history["end"] == DAYS[-1]
    for key, value in hand_metrics(series).items():
        assert history[key] == pytest.approx(value, rel=1e-12), key


def test_backtest_holds_todays_weights_over_every_date(book):
    portfolio, returns = book
    now = {"a": 0.3, "b": 0.2, "c": 0.25, "d": 0.15, "e": 0.0}
    expected = hand_metrics([day_return(now, returns, t) for t in range(len(DAYS))])
    backtest = portfolio_performance(portfolio=portfolio)["current_allocation_backtest"]
    assert backtest["start"] == DAYS[0] and backtest["end"] == DAYS[-1]
    for key, value in expected.items():
        assert backtest[key] == pytest.approx(value, rel=1e-12), key


def test_risk_uses_the_policys_window_over_the_held_strategies(book):
    portfolio, returns = book
    risk = portfolio_performance(portfolio=portfolio)["risk"]
    w = {"a": 0.3, "b": 0.2, "c": 0.25}
    # held: a, b, c, d (e has no fund, so its 9th-day return is not one of the window's dates);
    # the last 5 dates with a return of a held strategy are days 3..7; d has none and is left out
    window = {code: returns[code][3:8] for code in w}
    variance = sum(w[i] * w[j] * statistics.covariance(window[i], window[j]) for i in w for j in w)
    assert risk["ex_ante_volatility"] == pytest.approx(math.sqrt(252 * variance), rel=1e-9)
    assert risk["strategies_without_history"] == ["d"]
    p = np.array([0.3, 0.2, 0.25, 0.15]) / 0.9
    assert risk["effective_number_of_strategies"] == pytest.approx(1 / float(p @ p), rel=1e-12)
    assert risk["largest_weight"] == pytest.approx(0.3) and risk["largest_weight_strategy"] == "a"
    assert risk["invested"] == pytest.approx(0.9, rel=1e-15) and risk["cash"] == pytest.approx(0.1, rel=1e-12)
    assert risk["covariance_estimator"] == "sample" and risk["covariance_window"] == COV_WINDOW


def test_the_answers_frame(book):
    portfolio, _ = book
    got = portfolio_performance(portfolio=portfolio)
    assert got["portfolio"] == "tiny" and got["total_equity"] == EQUITY
    assert set(got) == {
        "portfolio",
        "timestamp",
        "total_equity",
        "history",
        "current_allocation_backtest",
        "risk",
        "sector_exposures",
    }


def test_a_portfolio_without_equity_weighs_its_history_by_the_funds(db):
    """Equity 0 with funds 300 / 100: history weights are the funds' shares (0.75, 0.25); today's
    weights of equity are 0, so the backtest is flat and the risk answers no volatility.

    The services keep funds within the equity (issue 21); such a row comes from before that rule (its
    equity set to 0 behind the services' back here). PostgreSQL refuses such a row (migration 0018)."""
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's deferred check refuses funds above the equity (migration 0018)")
    portfolio = PortfolioFactory(slug="no-equity", total_equity=Decimal("400"))
    sector = SectorFactory(code="technology")
    a = StrategyFactory(portfolio=portfolio, code="a", sector=sector)
    b = StrategyFactory(portfolio=portfolio, code="b", sector=sector)
    ra, rb = [0.02, -0.01, 0.005], [-0.01, 0.03, 0.0]
    for t, day in enumerate(DAYS[:3]):
        StrategyReturnFactory(strategy=a, date=day, value=ra[t])
        StrategyReturnFactory(strategy=b, date=day, value=rb[t])
    with clock.effective(at(dt.date(2023, 12, 29), 12)):
        funds_set_many(
            portfolio=portfolio, amounts={a.pk: Decimal("300"), b.pk: Decimal("100")}, actor=Actor.command("tests")
        )
    Portfolio.objects.filter(pk=portfolio.pk).update(total_equity=Decimal("0"))
    portfolio.refresh_from_db()
    got = portfolio_performance(portfolio=portfolio)
    expected = hand_metrics([0.75 * ra[t] + 0.25 * rb[t] for t in range(3)])
    for key, value in expected.items():
        assert got["history"][key] == pytest.approx(value, rel=1e-12), key
    backtest = got["current_allocation_backtest"]
    assert backtest["days"] == 3 and backtest["total_return"] == 0.0 and backtest["max_drawdown"] == 0.0
    assert backtest["sharpe"] is None
    assert got["sector_exposures"] == {"technology": 0.0}
    risk = got["risk"]
    assert risk["ex_ante_volatility"] is None and risk["effective_number_of_strategies"] is None
    assert risk["invested"] == 0.0 and risk["cash"] == 1.0
    assert risk["largest_weight"] == 0.0 and risk["largest_weight_strategy"] is None
    assert risk["covariance_estimator"] == engine.AllocationPolicy().covariance_estimator  # no policy: the default
