"""allocations/selectors/core.py: permission-filtered portfolios, runs, today's date, funds, sectors."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts import roles
from accounts.services import portfolio_grant, user_ensure
from allocations.models import AllocationRun, AuditEntry, Portfolio
from allocations.selectors.core import (
    fund_changes_recent,
    fund_total_capital,
    portfolio_for_user,
    portfolio_list_for_user,
    portfolio_today,
    run_get,
    sector_codes,
    user_may,
)
from allocations.services.funds import funds_set_many
from allocations.services.strategies import strategy_update
from tests.factories import AllocationPolicyFactory, PortfolioFactory, SectorFactory, StrategyFactory

PERMS = (roles.VIEW, roles.INGEST, roles.REBALANCE, roles.MANAGE_POLICY, roles.APPROVE)


@pytest.fixture
def granted(portfolio, other_portfolio):
    """One user per role granted on ``portfolio`` (alpha) only, and a superuser granted nothing."""
    users = {}
    for role in (roles.VIEWER, roles.PORTFOLIO_MANAGER, roles.RISK_OFFICER, roles.INTEGRATION):
        user, _ = user_ensure(username=f"u-{role}", role=role, password="pw")
        portfolio_grant(user=user, portfolio=portfolio, role=role)
        users[role] = user
    users["superuser"], _ = user_ensure(username="root", role=roles.ADMINISTRATOR, password="pw")
    users["ungranted"], _ = user_ensure(username="nobody", role=roles.RISK_OFFICER, password="pw")
    return users


# --- portfolios a user may see and what the user may do there -------------------------------


def test_granted_users_see_their_portfolio_only(granted, portfolio, other_portfolio):
    for role in (roles.VIEWER, roles.PORTFOLIO_MANAGER, roles.RISK_OFFICER, roles.INTEGRATION):
        user = granted[role]
        assert list(portfolio_list_for_user(user=user)) == [portfolio], role
        assert portfolio_for_user(user=user, slug="alpha") == portfolio, role
        assert portfolio_for_user(user=user, slug="beta") is None, role  # exists, not granted: like missing
        assert portfolio_for_user(user=user, slug="nowhere") is None, role


def test_a_risk_officer_without_a_grant_sees_nothing(granted, portfolio):
    """The role's group holds the admin's global view permission; only per-portfolio grants count."""
    user = granted["ungranted"]
    assert user.has_perm("allocations.view_portfolio")  # global, from the risk officer group
    assert list(portfolio_list_for_user(user=user)) == []
    assert portfolio_for_user(user=user, slug="alpha") is None


def test_a_superuser_sees_every_portfolio_in_slug_order(granted, portfolio, other_portfolio):
    third = PortfolioFactory(slug="aardvark")
    assert list(portfolio_list_for_user(user=granted["superuser"])) == [third, portfolio, other_portfolio]
    assert portfolio_for_user(user=granted["superuser"], slug="beta") == other_portfolio


def test_anonymous_and_inactive_users_see_nothing(granted, portfolio):
    assert list(portfolio_list_for_user(user=AnonymousUser())) == []
    assert list(portfolio_list_for_user(user=None)) == []
    viewer = granted[roles.VIEWER]
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])
    assert list(portfolio_list_for_user(user=viewer)) == []
    assert portfolio_for_user(user=viewer, slug="alpha") is None


def test_user_may_matrix(granted, portfolio, other_portfolio):
    """Every role against every permission, on the granted portfolio and on the other one."""
    for role in (roles.VIEWER, roles.PORTFOLIO_MANAGER, roles.RISK_OFFICER, roles.INTEGRATION):
        user = granted[role]
        for perm in PERMS:
            assert user_may(user=user, perm=perm, portfolio=portfolio) is (perm in roles.PORTFOLIO_PERMISSIONS[role]), (
                role,
                perm,
            )
            if perm != roles.VIEW:  # viewing is decided by portfolio_for_user before user_may is asked
                assert user_may(user=user, perm=perm, portfolio=other_portfolio) is False, (role, perm)
    for perm in PERMS:
        assert user_may(user=granted["superuser"], perm=perm, portfolio=other_portfolio) is True, perm
        if perm != roles.VIEW:
            assert user_may(user=granted["ungranted"], perm=perm, portfolio=portfolio) is False, perm


def test_a_grant_on_one_portfolio_is_no_grant_on_another(granted, portfolio, other_portfolio):
    pm = granted[roles.PORTFOLIO_MANAGER]
    portfolio_grant(user=pm, portfolio=other_portfolio, role=roles.VIEWER)
    assert list(portfolio_list_for_user(user=pm)) == [portfolio, other_portfolio]
    assert user_may(user=pm, perm=roles.REBALANCE, portfolio=portfolio) is True
    assert user_may(user=pm, perm=roles.REBALANCE, portfolio=other_portfolio) is False


# --- runs -----------------------------------------------------------------------------------


def make_run(portfolio):
    return AllocationRun.objects.create(
        portfolio=portfolio,
        policy=AllocationPolicyFactory(portfolio=portfolio),
        method="hybrid",
        inputs_digest="0" * 64,
        total_equity=Decimal("1000.00"),
    )


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "123", "None", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", None, 12])
def test_run_get_with_a_malformed_id_is_none(portfolio, bad):
    make_run(portfolio)
    assert run_get(portfolio=portfolio, public_id=bad) is None


def test_run_get_finds_the_portfolios_run_only(portfolio, other_portfolio):
    mine, theirs = make_run(portfolio), make_run(other_portfolio)
    assert run_get(portfolio=portfolio, public_id=str(mine.public_id)) == mine
    assert run_get(portfolio=portfolio, public_id=str(mine.public_id).upper()) == mine
    assert run_get(portfolio=portfolio, public_id=mine.public_id) == mine  # a UUID as well as its text
    assert run_get(portfolio=portfolio, public_id=str(theirs.public_id)) is None
    assert run_get(portfolio=portfolio, public_id=str(uuid.uuid4())) is None


# --- the portfolio's date -------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone, expected",
    [
        ("UTC", dt.date(2024, 1, 5)),
        ("Asia/Tokyo", dt.date(2024, 1, 6)),  # 08:30 on Saturday
        ("Pacific/Kiritimati", dt.date(2024, 1, 6)),  # UTC+14
        ("America/Los_Angeles", dt.date(2024, 1, 5)),
        ("Nowhere/Atlantis", dt.date(2024, 1, 5)),  # unknown: UTC
    ],
)
def test_portfolio_today_is_the_date_in_the_portfolios_zone(db, zone, expected):
    portfolio = PortfolioFactory(timezone=zone)
    friday_late = dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=friday_late):
        assert portfolio_today(portfolio) == expected


def test_portfolio_today_early_utc_is_yesterday_in_new_york(db):
    portfolio = PortfolioFactory(timezone="America/New_York")
    with mock.patch("django.utils.timezone.now", return_value=dt.datetime(2024, 3, 1, 3, 0, tzinfo=dt.UTC)):
        assert portfolio_today(portfolio) == dt.date(2024, 2, 29)  # 22:00 the day before (leap day)


# --- sectors and funds ----------------------------------------------------------------------


def test_sector_codes(db):
    assert sector_codes() == set()
    for code in ("technology", "energy", "unused"):
        SectorFactory(code=code)
    StrategyFactory(sector=SectorFactory(code="technology"))  # get-or-create: no new sector
    assert sector_codes() == {"technology", "energy", "unused"}


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
