"""allocations/selectors/panels.py against panels built here from the rows inserted.

Every test runs on SQLite and on PostgreSQL: the returns panel has its own PostgreSQL path
(columns packed into binary strings), which the CI PostgreSQL pass exercises.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from allocations.models import AllocationLine, AllocationRun, Fund, Portfolio, Strategy, StrategyReturn
from allocations.selectors.panels import (
    fund_amounts,
    latest_signals,
    previous_momentum,
    returns_panel,
    universe_load,
    universe_panel,
    window_start,
)
from tests.factories import (
    AllocationPolicyFactory,
    SectorFactory,
    SectorSignalFactory,
    StrategyFactory,
)

TODAY = dt.date(2026, 11, 27)


def insert(rows: dict[tuple[int, dt.date], float]) -> None:
    StrategyReturn.objects.bulk_create(
        [StrategyReturn(strategy_id=sid, date=day, value=value) for (sid, day), value in rows.items()]
    )


def expected_panel(rows: dict, ids: list[int], *, window: int | None = None, since: dt.date | None = None):
    """The panel built independently: the dates with a return of any of ``ids``, NaN elsewhere."""
    days = sorted({day for (sid, day) in rows if sid in ids and (since is None or day >= since)})
    if window is not None:
        days = days[-window:]
    row_of = {day: t for t, day in enumerate(days)}
    panel = np.full((len(days), len(ids)), np.nan)
    for (sid, day), value in rows.items():
        if sid in ids and day in row_of:
            panel[row_of[day], ids.index(sid)] = value
    return days, panel


def random_returns(ids: list[int], days: list[dt.date], *, seed: int, present: float = 0.8) -> dict:
    """A return of each strategy on each day with probability ``present``; values exact doubles."""
    rng = np.random.default_rng(seed)
    values = rng.normal(3e-4, 0.012, (len(days), len(ids)))
    keep = rng.random((len(days), len(ids))) < present
    return {(sid, day): float(values[t, j]) for t, day in enumerate(days) for j, sid in enumerate(ids) if keep[t, j]}


def weekdays(end: dt.date, count: int) -> list[dt.date]:
    days, day = [], end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days[::-1]


def assert_same_panel(got, want):
    got_days, got_panel = got
    want_days, want_panel = want
    assert got_days == want_days
    assert got_panel.shape == want_panel.shape
    np.testing.assert_array_equal(got_panel, want_panel)  # exact doubles; NaN where NaN


@pytest.fixture
def book(portfolio, other_portfolio):
    """Four strategies of ``portfolio`` (ids ascending) and one of another portfolio, with returns."""
    tech, energy = SectorFactory(code="technology"), SectorFactory(code="energy")
    mine = [StrategyFactory(portfolio=portfolio, code=f"s{j}", sector=tech if j < 2 else energy) for j in range(4)]
    theirs = StrategyFactory(portfolio=other_portfolio, code="x", sector=tech)
    ids = [s.pk for s in mine]
    rows = random_returns(ids, weekdays(TODAY - dt.timedelta(days=1), 300), seed=42)
    # the other portfolio has returns on days none of ours has: they must not add dates
    other = {(theirs.pk, TODAY - dt.timedelta(days=k)): 0.001 * k for k in range(0, 400, 7)}
    insert(rows)
    insert(other)
    return {"ids": ids, "rows": rows, "other": theirs.pk, "strategies": mine}


@pytest.mark.parametrize("window", [1, 5, 60, 252, 299, 300, 1000])
def test_window_keeps_the_last_dates_with_any_return(book, window):
    ids, rows = book["ids"], book["rows"]
    got = returns_panel(ids=np.array(ids), window=window, today=TODAY)
    assert_same_panel(got, expected_panel(rows, ids, window=window))
    assert len(got[0]) == min(window, len({day for (_, day) in rows}))


def test_columns_follow_the_ids_asked_for_and_nan_where_none(book):
    ids, rows = book["ids"], book["rows"]
    subset = [ids[0], ids[2], ids[3]]
    dates, panel = returns_panel(ids=np.array(subset), window=40, today=TODAY)
    assert_same_panel((dates, panel), expected_panel(rows, subset, window=40))
    t = len(dates) - 1
    for j, sid in enumerate(subset):
        assert panel[t, j] == rows[(sid, dates[t])] if (sid, dates[t]) in rows else np.isnan(panel[t, j])
    assert np.isnan(panel).any()  # some strategy misses some day (20 % of entries are absent)


def test_a_strategy_without_returns_is_a_nan_column(book, portfolio):
    silent = StrategyFactory(portfolio=portfolio, code="silent")
    ids = [*book["ids"], silent.pk]
    dates, panel = returns_panel(ids=np.array(ids), window=20, today=TODAY)
    assert panel.shape == (20, 5) and np.isnan(panel[:, 4]).all()
    assert_same_panel((dates, panel), expected_panel(book["rows"], ids, window=20))


def test_data_older_than_the_calendar_guess_is_still_found(portfolio):
    a, b = StrategyFactory(portfolio=portfolio, code="a"), StrategyFactory(portfolio=portfolio, code="b")
    ids = [a.pk, b.pk]
    two_years_ago = TODAY - dt.timedelta(days=730)
    rows = random_returns(ids, weekdays(two_years_ago, 30), seed=1, present=0.9)
    insert(rows)
    for window in (10, 30, 50):
        assert_same_panel(
            returns_panel(ids=np.array(ids), window=window, today=TODAY), expected_panel(rows, ids, window=window)
        )


def test_recent_and_old_returns_make_one_window(portfolio):
    """Three recent dates inside the calendar guess and older ones far before it: the window spans both."""
    a, b = StrategyFactory(portfolio=portfolio, code="a"), StrategyFactory(portfolio=portfolio, code="b")
    ids = [a.pk, b.pk]
    rows = random_returns(ids, weekdays(TODAY - dt.timedelta(days=1), 3), seed=2, present=1.0)
    rows |= random_returns(ids, weekdays(TODAY - dt.timedelta(days=400), 20), seed=3, present=0.7)
    insert(rows)
    dates, panel = returns_panel(ids=np.array(ids), window=10, today=TODAY)
    assert_same_panel((dates, panel), expected_panel(rows, ids, window=10))
    assert dates[-3] > TODAY - dt.timedelta(days=10) > dates[-4]


def test_since_keeps_every_date_from_since_on(book):
    ids, rows = book["ids"], book["rows"]
    all_days = sorted({day for (_, day) in rows})
    for since in (all_days[0], all_days[100], all_days[-1], all_days[-1] + dt.timedelta(days=1), dt.date(1990, 1, 1)):
        got = returns_panel(ids=np.array(ids), since=since)
        assert_same_panel(got, expected_panel(rows, ids, since=since))
        assert all(day >= since for day in got[0])
    dates, panel = returns_panel(ids=np.array(ids))  # neither: everything
    assert_same_panel((dates, panel), expected_panel(rows, ids))
    assert len(dates) == 300


def test_since_on_a_weekend_starts_at_the_next_date_with_data(portfolio):
    a = StrategyFactory(portfolio=portfolio, code="a")
    values = {4: 0.004, 5: -0.005, 8: 0.008, 9: 0.009}  # Thu, Fri, Mon, Tue
    rows = {(a.pk, dt.date(2024, 1, d)): v for d, v in values.items()}
    insert(rows)
    dates, panel = returns_panel(ids=np.array([a.pk]), since=dt.date(2024, 1, 6))
    assert dates == [dt.date(2024, 1, 8), dt.date(2024, 1, 9)]
    np.testing.assert_array_equal(panel, [[0.008], [0.009]])


@pytest.mark.parametrize("ids", [[3, 1], [2, 2], [1, 5, 4]])
def test_ids_must_be_strictly_ascending(db, ids):
    with pytest.raises(ValueError, match="strictly ascending"):
        returns_panel(ids=np.array(ids), window=5, today=TODAY)


def test_no_ids_is_an_empty_panel(db):
    dates, panel = returns_panel(ids=np.array([], dtype=np.int64), window=5, today=TODAY)
    assert dates == [] and panel.shape == (0, 0)


def test_no_returns_is_an_empty_panel_of_the_right_width(portfolio):
    ids = [StrategyFactory(portfolio=portfolio, code=c).pk for c in ("a", "b")]
    for kwargs in ({"window": 5, "today": TODAY}, {"since": dt.date(2020, 1, 1)}, {}):
        dates, panel = returns_panel(ids=np.array(ids), **kwargs)
        assert dates == [] and panel.shape == (0, 2), kwargs


def test_window_start(book):
    ids, rows = book["ids"], book["rows"]
    days = sorted({day for (_, day) in rows})
    assert window_start(ids=ids, window=10) == days[-10]
    assert window_start(ids=ids, window=10_000) == days[0]
    assert window_start(ids=[book["other"]], window=1) == TODAY
    assert window_start(ids=[], window=5) is None


def test_the_database_vendor_is_the_one_asked_for():
    """The panel's PostgreSQL path runs only when the suite runs on PostgreSQL (CI does both)."""
    assert connection.vendor in ("sqlite", "postgresql")


# --- the universe ----------------------------------------------------------------------------


@pytest.fixture
def universe_rows(portfolio, other_portfolio):
    tech, energy = SectorFactory(code="technology"), SectorFactory(code="energy")
    made = {
        "a": StrategyFactory(portfolio=portfolio, code="a", sector=tech, risk_budget=1.0),
        "gone": StrategyFactory(portfolio=portfolio, code="gone", sector=tech, status=Strategy.Status.RETIRED),
        "p": StrategyFactory(portfolio=portfolio, code="p", sector=energy, risk_budget=2.5, status="paused"),
        "c": StrategyFactory(portfolio=portfolio, code="c", sector=energy, risk_budget=0.5),
        "theirs": StrategyFactory(portfolio=other_portfolio, code="theirs", sector=tech),
    }
    return made


def test_universe_excludes_retired_and_flags_paused(portfolio, universe_rows):
    u = universe_load(portfolio=portfolio)
    s = universe_rows
    np.testing.assert_array_equal(u.ids, [s["a"].pk, s["p"].pk, s["c"].pk])  # ids ascending = creation order
    assert u.ids.dtype == np.int64
    assert u.codes == ["a", "p", "c"] and len(u) == 3
    assert u.sectors == ["technology", "energy", "energy"]
    np.testing.assert_array_equal(u.budgets, [1.0, 2.5, 0.5])
    np.testing.assert_array_equal(u.paused, [False, True, False])


def test_an_empty_universe(portfolio):
    u = universe_load(portfolio=portfolio)
    assert len(u) == 0 and u.ids.shape == (0,) and u.paused.shape == (0,)


def test_universe_panel_makes_paused_columns_nan(portfolio, universe_rows):
    s = universe_rows
    every = [s[c].pk for c in ("a", "gone", "p", "c", "theirs")]
    rows = random_returns(every, weekdays(TODAY, 40), seed=9, present=1.0)
    insert(rows)
    u = universe_load(portfolio=portfolio)
    dates, panel = universe_panel(universe=u, window=25, today=TODAY)
    ids = u.ids.tolist()
    want_dates, want = expected_panel(rows, ids, window=25)
    want[:, 1] = np.nan  # "p" is paused: held, so the engine sees no returns
    assert dates == want_dates
    np.testing.assert_array_equal(panel, want)
    assert np.isfinite(panel[:, [0, 2]]).all() and np.isnan(panel[:, 1]).all()


def test_universe_panel_of_a_universe_without_returns(portfolio, universe_rows):
    dates, panel = universe_panel(universe=universe_load(portfolio=portfolio), window=25, today=TODAY)
    assert dates == [] and panel.shape == (0, 3)


# --- funds, signals, the previous run's momentum ----------------------------------------------


def test_fund_amounts_of_the_portfolio_only(portfolio, universe_rows):
    s = universe_rows
    Portfolio.objects.filter(pk=portfolio.pk).update(total_equity=Decimal("10000000.00"))  # funds within equity
    Fund.objects.create(strategy=s["a"], amount=Decimal("123.45"))
    Fund.objects.create(strategy=s["gone"], amount=Decimal("0.00"))
    Fund.objects.create(strategy=s["p"], amount=Decimal("1000000.01"))
    Fund.objects.create(strategy=s["theirs"], amount=Decimal("99.00"))
    assert fund_amounts(portfolio=portfolio) == {
        s["a"].pk: Decimal("123.45"),
        s["gone"].pk: Decimal("0.00"),
        s["p"].pk: Decimal("1000000.01"),
    }


def test_fund_amounts_of_an_unfunded_portfolio(portfolio):
    assert fund_amounts(portfolio=portfolio) == {}


def test_latest_signals_per_sector_since_the_cutoff(portfolio, other_portfolio):
    tech, energy, utilities = (SectorFactory(code=c) for c in ("technology", "energy", "utilities"))
    now = dt.datetime(2024, 3, 8, 12, tzinfo=dt.UTC)
    cutoff = now - dt.timedelta(days=5)

    def signal(sector, action, confidence, days_ago, portfolio=portfolio):
        return SectorSignalFactory(
            portfolio=portfolio,
            sector=sector,
            action=action,
            confidence=confidence,
            as_of=now - dt.timedelta(days=days_ago),
        )

    signal(tech, "SELL", 0.9, 4)
    newest_tech = signal(tech, "BUY", 0.6, 1)
    signal(tech, "HOLD", 0.2, 3)  # stored last but older: not the latest
    signal(energy, "BUY", 1.0, 6)  # before the cutoff
    signal(energy, "SELL", 0.4, 5)  # exactly at the cutoff: counted
    signal(utilities, "BUY", 0.7, 10)  # only before the cutoff: the sector is absent
    signal(tech, "SELL", 1.0, 0, portfolio=other_portfolio)  # another portfolio's
    # two signals of one sector at the same moment: the later row wins
    same = now - dt.timedelta(days=2)
    SectorSignalFactory(portfolio=portfolio, sector=utilities, action="SELL", confidence=0.1, as_of=same)
    SectorSignalFactory(portfolio=portfolio, sector=utilities, action="HOLD", confidence=0.3, as_of=same)

    got = latest_signals(portfolio=portfolio, since=cutoff)
    assert got == {
        "technology": {
            "sector": "technology",
            "action": "BUY",
            "confidence": 0.6,
            "as_of": newest_tech.as_of.isoformat(),
        },
        "energy": {"sector": "energy", "action": "SELL", "confidence": 0.4, "as_of": cutoff.isoformat()},
        "utilities": {"sector": "utilities", "action": "HOLD", "confidence": 0.3, "as_of": same.isoformat()},
    }
    assert latest_signals(portfolio=portfolio, since=now + dt.timedelta(seconds=1)) == {}


def make_run(portfolio, policy, status, momentum: dict, *, created_at=None):
    run = AllocationRun.objects.create(
        portfolio=portfolio,
        policy=policy,
        method="hybrid",
        inputs_digest="0" * 64,
        total_equity=Decimal("1000.00"),
        status=status,
    )
    for strategy, weight in momentum.items():
        AllocationLine.objects.create(
            run=run,
            strategy=strategy,
            current_weight=0.0,
            base_weight=0.1,
            signal_weight=0.1,
            smoothed_weight=0.1,
            target_weight=0.1,
            target_amount=Decimal("100.00"),
            momentum_weight=weight,
        )
    if created_at is not None:
        AllocationRun.objects.filter(pk=run.pk).update(created_at=created_at)
    return run


def test_previous_momentum_is_the_last_applied_runs(portfolio, universe_rows):
    s = universe_rows
    policy = AllocationPolicyFactory(portfolio=portfolio)
    universe = universe_load(portfolio=portfolio)  # a, p, c
    assert previous_momentum(portfolio=portfolio, universe=universe) is None  # no run yet

    base = timezone.now() - dt.timedelta(days=3)
    # made first (lower id) but dated latest: the newest applied run by date
    make_run(portfolio, policy, "applied", {s["a"]: 0.4, s["c"]: 0.25, s["p"]: None}, created_at=base)
    make_run(portfolio, policy, "applied", {s["a"]: 0.9, s["c"]: 0.05}, created_at=base - dt.timedelta(days=1))
    make_run(portfolio, policy, "pending_approval", {s["a"]: 0.7}, created_at=base + dt.timedelta(days=1))
    make_run(portfolio, policy, "rejected", {s["a"]: 0.6}, created_at=base + dt.timedelta(days=1))
    other_policy = AllocationPolicyFactory(portfolio=s["theirs"].portfolio)
    make_run(s["theirs"].portfolio, other_policy, "applied", {s["theirs"]: 1.0}, created_at=base + dt.timedelta(days=2))

    got = previous_momentum(portfolio=portfolio, universe=universe)
    # p's line has no momentum weight and so is NaN, like a strategy the run did not have
    np.testing.assert_array_equal(got, [0.4, np.nan, 0.25])


def test_previous_momentum_with_a_strategy_new_since_the_run(portfolio, universe_rows):
    s = universe_rows
    policy = AllocationPolicyFactory(portfolio=portfolio)
    make_run(portfolio, policy, "applied", {s["a"]: 0.3})
    newcomer = StrategyFactory(portfolio=portfolio, code="new")
    universe = universe_load(portfolio=portfolio)
    assert universe.codes == ["a", "p", "c", "new"] and universe.ids[-1] == newcomer.pk
    np.testing.assert_array_equal(
        previous_momentum(portfolio=portfolio, universe=universe), [0.3, np.nan, np.nan, np.nan]
    )


def test_previous_momentum_of_a_run_without_momentum_is_none(portfolio, universe_rows):
    s = universe_rows
    policy = AllocationPolicyFactory(portfolio=portfolio)
    make_run(portfolio, policy, "applied", {s["a"]: None, s["c"]: None})
    assert previous_momentum(portfolio=portfolio, universe=universe_load(portfolio=portfolio)) is None


def test_window_and_since_together_never_answer_a_date_before_since(db):
    """Found while writing these tests: the refetch for sparse data ignored ``since``."""
    strategy = StrategyFactory()
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(20)]
    StrategyReturn.objects.bulk_create([StrategyReturn(strategy=strategy, date=d, value=0.001) for d in days])
    dates, panel = returns_panel(ids=[strategy.pk], window=10, since=dt.date(2024, 1, 16), today=dt.date(2026, 1, 1))
    assert dates == days[15:] and panel.shape == (5, 1)


def test_previous_momentum_and_funds_are_read_exactly(portfolio, universe_rows):
    """The packed reads (PostgreSQL) give the stored doubles bit for bit and the amounts to the cent."""
    s = universe_rows
    policy = AllocationPolicyFactory(portfolio=portfolio)
    make_run(portfolio, policy, "applied", {s["a"]: 1 / 3, s["p"]: 5e-324, s["c"]: 0.1 + 0.2})
    got = previous_momentum(portfolio=portfolio, universe=universe_load(portfolio=portfolio))
    assert got.tobytes() == np.array([1 / 3, 5e-324, 0.1 + 0.2]).tobytes()
    Portfolio.objects.filter(pk=portfolio.pk).update(total_equity=Decimal("10000000.00"))  # funds within equity
    Fund.objects.create(strategy=s["a"], amount=Decimal("1234567.89"))
    Fund.objects.create(strategy=s["c"], amount=Decimal("0.10"))
    amounts = fund_amounts(portfolio=portfolio)
    assert amounts == {s["a"].pk: Decimal("1234567.89"), s["c"].pk: Decimal("0.10")}
    assert [str(a) for a in amounts.values()] == ["1234567.89", "0.10"] and list(amounts) == sorted(amounts)
