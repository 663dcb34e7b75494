"""The portfolio version and the cache it keys (allocations.selectors.current)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from guardian.shortcuts import assign_perm, remove_perm

from accounts import roles
from accounts.services import portfolio_grant, user_ensure
from allocations.models import Portfolio
from allocations.selectors.current import (
    PortfolioVersion,
    portfolio_cached,
    portfolio_version_for_user,
    portfolio_version_now,
)
from allocations.selectors.funds import fund_total_capital
from allocations.services.funds import fund_set
from tests.factories import UserFactory


@pytest.fixture
def answers_cache(settings):
    """A real cache for "answers" (the test settings have none), empty at the start."""
    settings.CACHES = {
        **settings.CACHES,
        "answers": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex},
    }
    from django.core.cache import caches

    caches["answers"].clear()
    return caches["answers"]


@pytest.fixture
def viewer(portfolio):
    user, _ = user_ensure(username="current-viewer", role=roles.VIEWER, password="pw")
    portfolio_grant(user=user, portfolio=portfolio, role=roles.VIEWER)
    return user


def version_of(portfolio) -> PortfolioVersion:
    return portfolio_version_now(portfolio_id=portfolio.pk)


def test_an_audited_change_moves_the_version_and_only_its_portfolio(portfolio, other_portfolio, strategies, actor):
    other = version_of(other_portfolio)
    before = version_of(portfolio)
    assert version_of(portfolio) == before  # nothing written, nothing moved
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100", actor=actor)
    after = version_of(portfolio)
    assert after != before and after.portfolio_id == before.portfolio_id
    assert version_of(other_portfolio) == other


def test_the_same_amount_again_writes_nothing_and_keeps_the_version(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100", actor=actor)
    before = version_of(portfolio)
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100.00", actor=actor)
    assert version_of(portfolio) == before


def test_an_equity_or_slug_edited_outside_the_services_moves_the_version(portfolio):
    before = version_of(portfolio)
    Portfolio.objects.filter(pk=portfolio.pk).update(total_equity=Decimal("123.45"))
    moved = version_of(portfolio)
    assert moved != before
    Portfolio.objects.filter(pk=portfolio.pk).update(slug="renamed")
    assert version_of(portfolio) != moved and version_of(portfolio).slug == "renamed"


def test_the_version_is_the_one_guardian_lets_the_user_see(portfolio, other_portfolio, viewer):
    assert portfolio_version_for_user(user=viewer, slug="alpha") == version_of(portfolio)
    assert portfolio_version_for_user(user=viewer, slug="beta") is None  # not granted
    assert portfolio_version_for_user(user=viewer, slug="missing") is None
    admin = UserFactory(username="root", is_superuser=True)
    assert portfolio_version_for_user(user=admin, slug="beta") == version_of(other_portfolio)
    viewer.is_active = False
    assert portfolio_version_for_user(user=viewer, slug="alpha") is None


def test_a_grant_or_revocation_counts_at_the_next_read_although_the_query_is_compiled_once(portfolio, db):
    user = UserFactory(username="late")
    assert portfolio_version_for_user(user=user, slug="alpha") is None
    assign_perm("allocations.view_portfolio", user, portfolio)
    assert portfolio_version_for_user(user=user, slug="alpha") == version_of(portfolio)
    remove_perm("allocations.view_portfolio", user, portfolio)
    assert portfolio_version_for_user(user=user, slug="alpha") is None
    # through a group, the same
    group_user, _ = user_ensure(username="grouped", role=roles.VIEWER, password="pw")
    assert portfolio_version_for_user(user=group_user, slug="alpha") is None
    group = group_user.groups.get()
    assign_perm("allocations.view_portfolio", group, portfolio)
    assert portfolio_version_for_user(user=group_user, slug="alpha") == version_of(portfolio)
    group_user.groups.clear()
    assert portfolio_version_for_user(user=group_user, slug="alpha") is None


def test_a_value_is_built_once_per_version(answers_cache, portfolio, strategies, actor):
    built = []

    def build(p):
        built.append(p.pk)
        return {"capital": str(fund_total_capital(portfolio=p))}

    first = portfolio_cached(version=version_of(portfolio), name="t", build=build)
    assert portfolio_cached(version=version_of(portfolio), name="t", build=build) == first
    assert built == [portfolio.pk]
    fund_set(portfolio=portfolio, strategy="tech-a", amount="5", actor=actor)
    assert portfolio_cached(version=version_of(portfolio), name="t", build=build) == {"capital": "5.00"}
    assert len(built) == 2
    assert portfolio_cached(version=version_of(portfolio), name="other", build=build) and len(built) == 3


def test_a_value_built_while_a_change_commits_is_not_kept(answers_cache, portfolio, strategies, actor):
    built = []

    def build(p):
        built.append(1)
        value = {"n": len(built)}
        if len(built) == 1:  # a change commits while the value is built: the value may mix both states
            fund_set(portfolio=p, strategy="tech-a", amount="1", actor=actor)
        return value

    version = version_of(portfolio)
    assert portfolio_cached(version=version, name="t", build=build) == {"n": 1}
    assert portfolio_cached(version=version, name="t", build=build) == {"n": 2}  # the first was not kept
    fresh = version_of(portfolio)
    assert fresh != version
    assert portfolio_cached(version=fresh, name="t", build=build) == {"n": 3}
    assert portfolio_cached(version=fresh, name="t", build=build) == {"n": 3}  # nothing committed: kept
    assert len(built) == 3


@pytest.mark.postgres
def test_on_postgresql_the_permission_query_is_one_prepared_statement_for_every_user(portfolio, viewer):
    from django.db import connection

    def prepared() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
            return dict(cursor.fetchall())

    def permission_runs() -> dict[str, int]:
        return {sql: count for sql, count in prepared().items() if "guardian_userobjectpermission" in sql}

    portfolio_version_for_user(user=viewer, slug="alpha")  # the connection has it prepared from here on
    before = permission_runs()
    another, _ = user_ensure(username="current-viewer-2", role=roles.VIEWER, password="pw")
    for _ in range(3):
        assert portfolio_version_for_user(user=viewer, slug="alpha") == version_of(portfolio)
        assert portfolio_version_for_user(user=viewer, slug="beta") is None
        assert portfolio_version_for_user(user=another, slug="alpha") is None
    after = permission_runs()
    # one statement for every user and slug (their values bound on the server), run nine more times
    assert after.keys() == before.keys() and len(after) == 1
    assert sum(after.values()) - sum(before.values()) == 9
