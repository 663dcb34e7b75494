"""allocations/selectors/portfolios.py: permission-filtered portfolios, today's date in a portfolio's zone."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts import roles
from accounts.services import portfolio_grant, user_ensure
from allocations.selectors.portfolios import portfolio_for_user, portfolio_list_for_user, portfolio_today, user_may
from tests.factories import PortfolioFactory

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
