"""``seed_demo``: demo portfolios, users per role with their grants, audited funds; idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from guardian.models import UserObjectPermission
from guardian.shortcuts import get_perms

from allocations.demo import demo_seed
from allocations.demo.returns import business_days, synthetic_returns
from allocations.models import (
    AllocationPolicy,
    AuditEntry,
    Fund,
    Portfolio,
    SectorSignal,
    Strategy,
    StrategyReturn,
)
from allocations.selectors.audit import audit_verify

pytestmark = pytest.mark.django_db
N_STRATEGIES, N_DAYS = 16, 60

# What each demo user may do on ``demo`` (the roles of the issue, written out here independently).
VIEW = {"view_portfolio"}
OPERATE = VIEW | {"ingest_data", "request_rebalance"}
DECIDE = OPERATE | {"manage_policy", "approve_run"}
EXPECTED_GRANTS = {"risk": DECIDE, "risk2": DECIDE, "pm": OPERATE, "viewer": VIEW, "integration": OPERATE}
EXPECTED_GROUPS = {
    "admin": "administrator",
    "risk": "risk_officer",
    "risk2": "risk_officer",
    "pm": "portfolio_manager",
    "viewer": "viewer",
    "integration": "integration",
}


@pytest.fixture
def seeded(db):
    demo_seed(strategies=N_STRATEGIES, days=N_DAYS, password="s3cret-demo")
    return Portfolio.objects.get(slug="demo")


def _table_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_creates_both_portfolios_with_strategies_and_returns(seeded):
    demo_b = Portfolio.objects.get(slug="demo-b")
    assert Strategy.objects.filter(portfolio=seeded).count() == N_STRATEGIES
    assert StrategyReturn.objects.filter(strategy__portfolio=seeded).count() == N_STRATEGIES * N_DAYS
    assert Strategy.objects.filter(portfolio=demo_b).count() > 0
    sectors = set(Strategy.objects.filter(portfolio=seeded).values_list("sector__code", flat=True))
    assert len(sectors) == 8
    dates = sorted(set(StrategyReturn.objects.filter(strategy__portfolio=seeded).values_list("date", flat=True)))
    assert len(dates) == N_DAYS
    assert all(d.weekday() < 5 for d in dates)
    assert dates[-1] < timezone.localdate()
    assert SectorSignal.objects.filter(portfolio=seeded).exists()
    assert AllocationPolicy.objects.get(portfolio=seeded).version == 1


def test_users_have_their_roles(seeded):
    User = get_user_model()
    for username, group in EXPECTED_GROUPS.items():
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert user.check_password("s3cret-demo")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert not User.objects.get(username="viewer").is_superuser


def test_every_user_but_admin_is_granted_demo_only(seeded):
    User = get_user_model()
    demo_b = Portfolio.objects.get(slug="demo-b")
    all_perms = DECIDE
    for username, expected in EXPECTED_GRANTS.items():
        user = User.objects.get(username=username)
        assert set(get_perms(user, seeded)) == expected, username
        assert get_perms(user, demo_b) == [], username
        for perm in all_perms:
            assert user.has_perm(f"allocations.{perm}", seeded) == (perm in expected), (username, perm)
            assert not user.has_perm(f"allocations.{perm}", demo_b), (username, perm)
    # The administrator's reach comes from being a superuser, not from grants.
    assert not UserObjectPermission.objects.filter(user__username="admin").exists()


def test_every_strategy_gets_an_audited_fund(seeded):
    strategies = list(Strategy.objects.filter(portfolio=seeded))
    equity = seeded.total_equity
    each = (equity / len(strategies)).quantize(Decimal("0.01"))
    funds = {f.strategy_id: f.amount for f in Fund.objects.filter(strategy__portfolio=seeded)}
    assert funds == {s.pk: each for s in strategies}
    rows = AuditEntry.objects.filter(portfolio=seeded, kind=AuditEntry.Kind.FUND_CHANGE).order_by("id")
    assert sorted(r.strategy_id for r in rows) == sorted(s.pk for s in strategies)
    totals = [r.total_capital for r in rows]
    assert totals == [each * (i + 1) for i in range(len(strategies))]  # running total, one change at a time
    assert all(r.actor_label == "command:seed_demo" and r.old_amount == 0 for r in rows)
    result = audit_verify()
    assert result.ok and result.checked == AuditEntry.objects.count()


def test_running_it_again_changes_nothing(seeded):
    counts = _table_counts()
    last_audit = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    values = dict(StrategyReturn.objects.values_list("id", "value")[:200])

    report = demo_seed(strategies=N_STRATEGIES, days=N_DAYS, password="another")

    assert _table_counts() == counts
    assert AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() == last_audit
    assert dict(StrategyReturn.objects.filter(id__in=values).values_list("id", "value")) == values
    assert all(outcome.startswith("already there") for outcome in report.portfolios.values())
    assert not any(created for _, _, created in report.users)
    assert get_user_model().objects.get(username="pm").check_password("s3cret-demo")  # password kept


def test_synthetic_returns_have_sector_structure(seeded):
    rows = StrategyReturn.objects.filter(strategy__portfolio=seeded).values_list("strategy_id", "date", "value")
    strategy_ids = sorted({r[0] for r in rows})
    dates = sorted({r[1] for r in rows})
    matrix = np.full((len(dates), len(strategy_ids)), np.nan)
    col = {s: j for j, s in enumerate(strategy_ids)}
    row = {d: t for t, d in enumerate(dates)}
    for strategy_id, day, value in rows:
        matrix[row[day], col[strategy_id]] = value
    assert np.isfinite(matrix).all()
    sector = dict(Strategy.objects.filter(portfolio=seeded).values_list("id", "sector_id"))
    labels = np.array([sector[s] for s in strategy_ids])

    corr = np.corrcoef(matrix, rowvar=False)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    within = corr[same & off_diagonal].mean()
    across = corr[~same].mean()
    assert within > across + 0.1, (within, across)


def test_synthetic_returns_are_reproducible_and_bounded():
    sector_of = np.arange(24) % 8
    first = synthetic_returns(24, 300, sector_of, seed=11)
    again = synthetic_returns(24, 300, sector_of, seed=11)
    other = synthetic_returns(24, 300, sector_of, seed=12)
    assert first.shape == (300, 24)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.isfinite(first).all() and (first > -1).all()
    vol = first.std(axis=0) * np.sqrt(252)
    assert (vol > 0.03).all() and (vol < 0.8).all()


def test_business_days_are_the_weekdays_up_to_the_end():
    friday = dt.date(2024, 3, 8)
    assert business_days(friday, 3) == [dt.date(2024, 3, 6), dt.date(2024, 3, 7), friday]
    sunday = dt.date(2024, 3, 10)
    days = business_days(sunday, 6)
    assert days[-1] == friday and days[0] == dt.date(2024, 3, 1)
    assert len(days) == 6 and all(d.weekday() < 5 for d in days)


def test_seed_demo_command_with_another_portfolio(settings):
    settings.DEMO_PASSWORD = "pw-from-settings"
    out = StringIO()
    call_command("seed_demo", "--portfolio", "x", "--strategies", "30", "--days", "40", stdout=out)
    x = Portfolio.objects.get(slug="x")
    assert Strategy.objects.filter(portfolio=x).count() == 30
    assert StrategyReturn.objects.filter(strategy__portfolio=x).count() == 30 * 40
    assert Fund.objects.filter(strategy__portfolio=x).count() == 30
    assert Portfolio.objects.filter(slug="demo-b").exists()
    text = out.getvalue()
    assert "portfolio x: created: 30 strategies, 40 days" in text
    for username in EXPECTED_GROUPS:
        assert username in text
    assert "pw-from-settings" in text
    assert get_user_model().objects.get(username="viewer").check_password("pw-from-settings")
    assert audit_verify().ok


@pytest.mark.parametrize("args, message", [(["--strategies", "0"], "--strategies"), (["--days", "1"], "--days")])
def test_seed_demo_command_refuses_bad_sizes(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", *args)
    assert not Portfolio.objects.exists()


def test_the_seed_keeps_each_portfolios_returns_snapshot_equal_to_its_rows(db):
    """Demo returns land as ingested ones do: the snapshot the rebalances read is there and equals the rows,
    after the history is seeded and after each lived-through day."""
    from allocations.models import ReturnsPanelSnapshot
    from allocations.services.returns_snapshot import returns_snapshot_check

    demo_seed(strategies=6, days=70, history_days=4, password="s3cret-demo")
    for portfolio in Portfolio.objects.all():
        assert ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).exists(), portfolio.slug
        assert returns_snapshot_check(portfolio=portfolio, repair=False) == "equal", portfolio.slug
