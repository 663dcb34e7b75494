"""The database itself refuses rows outside the domain's ranges and duplicate keys.

Each case saves the good value first (so the test fails if the constraint were too strict or
the row could not be built) and then checks the database refuses the bad one.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from allocations.models import (
    AllocationPolicy,
    AllocationRun,
    Fund,
    Portfolio,
    SectorSignal,
    Strategy,
    StrategyReturn,
    TransitionSchedule,
)
from tests.factories import (
    AllocationPolicyFactory,
    PortfolioFactory,
    SectorFactory,
    SectorSignalFactory,
    StrategyFactory,
    StrategyReturnFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def assert_refused(build):
    """``build()`` writes a row; the database must refuse it and leave the transaction usable."""
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            build()


@pytest.mark.parametrize("good", [0.0, 0.5, 1.0])
def test_signal_confidence_inside_0_1_is_stored(good):
    signal = SectorSignalFactory(confidence=good)
    assert SectorSignal.objects.get(pk=signal.pk).confidence == good


@pytest.mark.parametrize("bad", [-0.01, 1.01, -1.0, 2.0, math.nan])
def test_signal_confidence_outside_0_1_is_refused(bad):
    portfolio, sector = PortfolioFactory(), SectorFactory()
    before = SectorSignal.objects.count()
    assert_refused(lambda: SectorSignalFactory(portfolio=portfolio, sector=sector, confidence=bad))
    assert SectorSignal.objects.count() == before


def test_signal_action_outside_choices_is_refused():
    SectorSignalFactory(action="SELL")
    assert_refused(lambda: SectorSignalFactory(action="WAIT"))


LIMIT_FIELDS = ["max_single_strategy_exposure", "max_sector_exposure", "max_total_risk"]


@pytest.mark.parametrize("good", [1 / 260, 0.2, 1.0])
def test_max_daily_change_inside_the_plan_bound_is_stored(good):
    policy = AllocationPolicyFactory(max_daily_change=good)
    assert AllocationPolicy.objects.get(pk=policy.pk).max_daily_change == good


@pytest.mark.parametrize("bad", [1e-300, 1e-12, 1e-6, 0.0, 1.5])
def test_max_daily_change_that_would_plan_more_than_260_steps_is_refused(bad):
    """Issue 8 item 1: 1e-300 hung the planner while it held the portfolio lock."""
    portfolio = PortfolioFactory()
    assert_refused(lambda: AllocationPolicyFactory(portfolio=portfolio, max_daily_change=bad))


@pytest.mark.parametrize("field", LIMIT_FIELDS)
@pytest.mark.parametrize("good", [1e-6, 0.2, 1.0])
def test_policy_limit_inside_open_0_closed_1_is_stored(field, good):
    policy = AllocationPolicyFactory(**{field: good})
    assert getattr(AllocationPolicy.objects.get(pk=policy.pk), field) == good


@pytest.mark.parametrize("field", LIMIT_FIELDS)
@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, math.nan])
def test_policy_limit_outside_open_0_closed_1_is_refused(field, bad):
    portfolio = PortfolioFactory()
    assert_refused(lambda: AllocationPolicyFactory(portfolio=portfolio, version=1, **{field: bad}))
    assert not AllocationPolicy.objects.filter(portfolio=portfolio).exists()


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("hybrid_blend", 0.0, 1.01),
        ("momentum_factor", 1.0, -0.1),
        ("signal_decay_factor", 0.95, 1.2),
        ("buy_multiplier", 0.3, -0.3),
        ("sell_multiplier", 0.2, 1.5),
        ("min_change_threshold", 0.0, -0.01),
        ("force_rebalance_threshold", 1.0, 1.1),
        ("approval_threshold", 2.0, 2.5),
        ("lookback_period", 2, 1),
        ("covariance_lookback", 2, 1),
        ("transition_period_days", 1, 0),
        ("method", "risk_parity", "magic"),
        ("covariance_estimator", "ewma", "guess"),
        ("version", 1, 0),
    ],
)
def test_policy_other_ranges(field, good, bad):
    portfolio = PortfolioFactory()
    AllocationPolicyFactory(portfolio=portfolio, version=1, **({field: good} if field != "version" else {}))
    if field == "version":
        other = PortfolioFactory()
        AllocationPolicyFactory(portfolio=other, version=good)
        assert_refused(lambda: AllocationPolicyFactory(portfolio=PortfolioFactory(), version=bad))
    else:
        assert_refused(lambda: AllocationPolicyFactory(portfolio=portfolio, version=2, **{field: bad}))
    assert AllocationPolicy.objects.filter(portfolio=portfolio).count() == 1


def test_duplicate_policy_version_is_refused_but_next_version_is_fine():
    portfolio = PortfolioFactory()
    AllocationPolicyFactory(portfolio=portfolio, version=1)
    AllocationPolicyFactory(portfolio=portfolio, version=2)
    assert_refused(lambda: AllocationPolicyFactory(portfolio=portfolio, version=2))
    # The same version number in another portfolio is its own sequence.
    AllocationPolicyFactory(portfolio=PortfolioFactory(), version=2)
    assert sorted(AllocationPolicy.objects.filter(portfolio=portfolio).values_list("version", flat=True)) == [
        1,
        2,
    ]


def test_fund_amount_must_not_be_negative():
    strategy = StrategyFactory()
    Fund.objects.create(strategy=strategy, amount=Decimal("0.00"))
    Fund.objects.filter(strategy=strategy).update(amount=Decimal("12.34"))
    assert Fund.objects.get(strategy=strategy).amount == Decimal("12.34")
    with pytest.raises(IntegrityError), transaction.atomic():
        Fund.objects.filter(strategy=strategy).update(amount=Decimal("-0.01"))
    assert Fund.objects.get(strategy=strategy).amount == Decimal("12.34")
    assert_refused(lambda: Fund.objects.create(strategy=StrategyFactory(), amount=Decimal("-5")))


def test_portfolio_equity_must_not_be_negative():
    PortfolioFactory(slug="zero", total_equity=Decimal("0"))
    assert_refused(lambda: PortfolioFactory(slug="negative", total_equity=Decimal("-1.00")))
    assert list(Portfolio.objects.filter(slug__in=["zero", "negative"]).values_list("slug", flat=True)) == ["zero"]


def test_portfolio_currency_must_be_iso_code():
    PortfolioFactory(base_currency="EUR")
    assert_refused(lambda: PortfolioFactory(base_currency="eur"))


@pytest.mark.parametrize("good", [-0.999999, 0.0, 0.25, 5.0])
def test_return_above_minus_one_is_stored(good):
    row = StrategyReturnFactory(value=good)
    assert StrategyReturn.objects.get(pk=row.pk).value == good


@pytest.mark.parametrize("bad", [-1.0, -1.5, -100.0, 1e6, math.nan, math.inf, -math.inf])
def test_return_at_or_below_minus_one_or_not_finite_is_refused(bad):
    strategy = StrategyFactory()
    assert_refused(lambda: StrategyReturnFactory(strategy=strategy, value=bad))
    assert not StrategyReturn.objects.filter(strategy=strategy).exists()


def test_duplicate_strategy_date_is_refused():
    strategy = StrategyFactory()
    day = dt.date(2024, 3, 1)
    StrategyReturnFactory(strategy=strategy, date=day, value=0.01)
    StrategyReturnFactory(strategy=strategy, date=day + dt.timedelta(days=1), value=0.02)
    StrategyReturnFactory(strategy=StrategyFactory(), date=day, value=0.03)  # another strategy, same day
    assert_refused(lambda: StrategyReturnFactory(strategy=strategy, date=day, value=0.05))
    assert StrategyReturn.objects.get(strategy=strategy, date=day).value == 0.01


def test_strategy_code_unique_within_a_portfolio_only():
    first, second = PortfolioFactory(), PortfolioFactory()
    sector = SectorFactory()
    StrategyFactory(portfolio=first, code="momo", sector=sector)
    StrategyFactory(portfolio=second, code="momo", sector=sector)  # same code elsewhere is fine
    assert_refused(lambda: StrategyFactory(portfolio=first, code="momo", sector=sector))
    assert Strategy.objects.filter(code="momo").count() == 2


def test_strategy_risk_budget_positive_and_status_valid():
    StrategyFactory(risk_budget=0.5, status="paused")
    assert_refused(lambda: StrategyFactory(risk_budget=0.0))
    assert_refused(lambda: StrategyFactory(status="zombie"))


def _run(portfolio, policy):
    return AllocationRun.objects.create(
        portfolio=portfolio,
        policy=policy,
        method=policy.method,
        inputs_digest="0" * 64,
        total_equity=Decimal("1"),
    )


def test_one_active_schedule_per_portfolio():
    portfolio = PortfolioFactory()
    policy = AllocationPolicyFactory(portfolio=portfolio, version=1)
    first = TransitionSchedule.objects.create(run=_run(portfolio, policy), portfolio=portfolio)
    assert_refused(lambda: TransitionSchedule.objects.create(run=_run(portfolio, policy), portfolio=portfolio))
    # Closed schedules do not count; another portfolio has its own active schedule.
    TransitionSchedule.objects.create(
        run=_run(portfolio, policy), portfolio=portfolio, status=TransitionSchedule.Status.COMPLETED
    )
    other = PortfolioFactory()
    other_policy = AllocationPolicyFactory(portfolio=other, version=1)
    TransitionSchedule.objects.create(run=_run(other, other_policy), portfolio=other)
    # Once the first is closed a new one may start.
    TransitionSchedule.objects.filter(pk=first.pk).update(status=TransitionSchedule.Status.SUPERSEDED)
    TransitionSchedule.objects.create(run=_run(portfolio, policy), portfolio=portfolio)
    assert TransitionSchedule.objects.filter(portfolio=portfolio, status="active").count() == 1


def test_run_ranges_and_idempotency_key():
    portfolio = PortfolioFactory()
    policy = AllocationPolicyFactory(portfolio=portfolio, version=1)
    user, other = UserFactory(), UserFactory()
    common = dict(
        portfolio=portfolio,
        policy=policy,
        method="hybrid",
        inputs_digest="x",
        total_equity=Decimal("1"),
        requested_by=user,
    )
    AllocationRun.objects.create(**common, idempotency_key="k1", turnover=2.0, cash_weight=1.0)
    AllocationRun.objects.create(**common)  # two runs without a key are fine
    AllocationRun.objects.create(**common)
    assert_refused(lambda: AllocationRun.objects.create(**common, idempotency_key="k1"))
    # a key belongs to its requester (issue 8 item 3): another user may use the same one
    AllocationRun.objects.create(**{**common, "requested_by": other}, idempotency_key="k1")
    assert_refused(lambda: AllocationRun.objects.create(**common, turnover=2.5))
    assert_refused(lambda: AllocationRun.objects.create(**common, cash_weight=-0.1))
    assert_refused(lambda: AllocationRun.objects.create(**common, status="exploded"))


def test_the_audit_table_keeps_only_the_indexes_it_reads_and_its_chain_unforkable():
    """Every audit row feeds every index of the table (a rebalance writes one per strategy moved): no
    index of the portfolio alone (the (portfolio, created_at) index leads with it), none of the hashes
    (issue 14); the chain stays unforkable by its position, (portfolio, seq) unique."""
    from django.db import connection

    from allocations.models import AuditEntry
    from tests.allocations.demo_support import seeded_demo

    portfolio = seeded_demo(strategies=3, days=5, seed=1)
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"]}
    assert ("portfolio_id",) not in indexed
    assert ("portfolio_id", "seq") in indexed
    assert not [columns for columns in indexed if {"entry_hash", "prev_hash"} & set(columns)]
    assert not [name for name in constraints if name.endswith("_like")]
    first = AuditEntry.objects.filter(portfolio=portfolio).order_by("id").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.bulk_create(
            [AuditEntry(**{**_fields(first), "prev_hash": "f" * 64, "entry_hash": "e" * 64})]  # first's seq
        )


def _fields(entry) -> dict:
    return {f.attname: getattr(entry, f.attname) for f in entry._meta.concrete_fields if f.attname != "id"}
