"""allocations/services/strategies.py called directly: create, update, pause, retire, each audited."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import numpy as np
import pytest

from allocations.errors import ConflictError, DomainError
from allocations.models import AuditEntry, Fund, Strategy
from allocations.selectors.audit import audit_verify
from allocations.selectors.panels import universe_load
from allocations.services.funds import funds_set_many
from allocations.services.strategies import strategy_create, strategy_retire, strategy_update
from tests.factories import SectorFactory


def changes(portfolio, strategy=None):
    rows = AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.STRATEGY_CHANGE).order_by("id")
    return rows.filter(strategy=strategy) if strategy is not None else rows


def fund_changes(strategy):
    return AuditEntry.objects.filter(strategy=strategy, kind=AuditEntry.Kind.FUND_CHANGE).order_by("id")


# --- create -----------------------------------------------------------------------------------


def test_create_adds_an_active_unfunded_strategy_and_audits_it(portfolio, strategies, actor):
    strategy = strategy_create(
        portfolio=portfolio,
        actor=actor,
        code="util_1",
        name="  Utilities One ",
        sector="technology",
        asset_class="credit",
        risk_budget=2,
    )
    strategy.refresh_from_db()
    assert (strategy.code, strategy.name, strategy.sector.code, strategy.asset_class) == (
        "util_1",
        "Utilities One",
        "technology",
        "credit",
    )
    assert strategy.status == Strategy.Status.ACTIVE and strategy.risk_budget == 2.0
    assert not Fund.objects.filter(strategy=strategy).exists()
    entry = changes(portfolio, strategy).get()
    assert entry.reason == "strategy util_1 created" and entry.actor == actor.user
    assert entry.payload == {
        "action": "create",
        "name": "Utilities One",
        "sector": "technology",
        "asset_class": "credit",
        "risk_budget": "2.0",
        "status": "active",
    }
    assert audit_verify().ok


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"code": "tech-a"}, "code"),  # taken in this portfolio
        ({"code": "has space"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "x" * 65}, "code"),
        ({"sector": "nowhere"}, "sector"),
        ({"name": "   "}, "name"),
        ({"risk_budget": 0}, "risk_budget"),
        ({"risk_budget": float("nan")}, "risk_budget"),
        ({"risk_budget": True}, "risk_budget"),
        # issue 21 item 19: invisible and direction-changing characters; a code with a trailing line end
        ({"name": "Tech \u202eA"}, "name"),
        ({"name": "Tech\u200bA"}, "name"),
        ({"name": "\ufeffTech"}, "name"),
        ({"asset_class": "equ\u2066ity"}, "asset_class"),
        ({"code": "new\n"}, "code"),
    ],
)
def test_create_refusals_name_the_field_and_write_nothing(portfolio, strategies, actor, kwargs, field):
    args = {"code": "new", "name": "New", "sector": "energy", **kwargs}
    before = Strategy.objects.count()
    with pytest.raises(DomainError) as err:
        strategy_create(portfolio=portfolio, actor=actor, **args)
    assert err.value.field == field
    assert Strategy.objects.count() == before and not changes(portfolio).exists()


def test_a_code_taken_in_another_portfolio_is_free_here(portfolio, other_portfolio, strategies, actor):
    theirs = strategy_create(portfolio=other_portfolio, actor=actor, code="tech-a", name="Theirs", sector="technology")
    assert theirs.portfolio == other_portfolio
    assert changes(other_portfolio).count() == 1 and not changes(portfolio).exists()


# --- update and pause -------------------------------------------------------------------------


def test_pause_is_audited_and_the_universe_holds_the_strategy(portfolio, strategies, actor):
    strategy = strategies["tech-b"]
    paused = strategy_update(strategy=strategy, actor=actor, changes={"status": "paused"}, reason="drawdown review")
    assert paused.status == Strategy.Status.PAUSED
    assert Strategy.objects.get(pk=strategy.pk).status == "paused"
    entry = changes(portfolio, strategy).get()
    assert entry.reason == "drawdown review"
    assert entry.payload == {"action": "update", "changes": {"status": {"old": "active", "new": "paused"}}}
    universe = universe_load(portfolio=portfolio)
    np.testing.assert_array_equal(universe.paused, [code == "tech-b" for code in universe.codes])

    strategy_update(strategy=strategy, actor=actor, changes={"status": "active"})
    assert Strategy.objects.get(pk=strategy.pk).status == "active"
    assert changes(portfolio, strategy).last().payload["changes"] == {"status": {"old": "paused", "new": "active"}}
    assert audit_verify().ok


def test_update_records_only_what_changed(portfolio, strategies, actor):
    strategy = strategies["tech-a"]
    SectorFactory(code="utilities")
    strategy_update(
        strategy=strategy,
        actor=actor,
        changes={"name": strategy.name, "sector": "utilities", "risk_budget": 1.5, "asset_class": "equity"},
    )
    strategy.refresh_from_db()
    assert strategy.sector.code == "utilities" and strategy.risk_budget == 1.5
    entry = changes(portfolio, strategy).get()
    assert entry.reason == "strategy tech-a updated"
    assert entry.payload["changes"] == {
        "sector": {"old": "technology", "new": "utilities"},
        "risk_budget": {"old": "1.0", "new": "1.5"},
    }


def test_an_update_that_changes_nothing_writes_no_audit_row(portfolio, strategies, actor):
    strategy = strategies["tech-a"]
    strategy_update(strategy=strategy, actor=actor, changes={"status": "active", "sector": "technology"})
    assert not changes(portfolio).exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"status": "retired"}, "status"),  # retiring has its own action
        ({"status": "deleted"}, "status"),
        ({"sector": "nowhere"}, "sector"),
        ({"risk_budget": -1}, "risk_budget"),
        ({"code": "renamed"}, "code"),  # not editable
        ({"name": 7}, "name"),
    ],
)
def test_update_refusals_name_the_field_and_change_nothing(portfolio, strategies, actor, change, field):
    strategy = strategies["ener-a"]
    with pytest.raises(DomainError) as err:
        strategy_update(strategy=strategy, actor=actor, changes=change)
    assert err.value.field == field
    fresh = Strategy.objects.get(pk=strategy.pk)
    assert (fresh.status, fresh.sector.code, fresh.risk_budget, fresh.code) == ("active", "energy", 1.0, "ener-a")
    assert not changes(portfolio).exists()


# --- retire -----------------------------------------------------------------------------------


def test_retire_takes_the_capital_away_with_both_audit_rows(portfolio, strategies, actor):
    s = strategies
    funds_set_many(
        portfolio=portfolio,
        amounts={s["tech-a"].pk: Decimal("300.00"), s["tech-b"].pk: Decimal("200.00")},
        actor=actor,
    )
    retired = strategy_retire(strategy=s["tech-a"], actor=actor, reason="closed by the desk")
    assert retired.status == Strategy.Status.RETIRED
    assert Fund.objects.get(strategy=s["tech-a"]).amount == Decimal("0.00")
    assert Fund.objects.get(strategy=s["tech-b"]).amount == Decimal("200.00")
    entry = changes(portfolio, s["tech-a"]).get()
    assert entry.reason == "closed by the desk"
    assert entry.payload == {"action": "retire", "changes": {"status": {"old": "active", "new": "retired"}}}
    moved = fund_changes(s["tech-a"]).last()
    assert (moved.old_amount, moved.new_amount, moved.total_capital) == (
        Decimal("300.00"),
        Decimal("0.00"),
        Decimal("200.00"),
    )
    assert moved.reason == "closed by the desk" and moved.id > entry.id
    assert "tech-a" not in universe_load(portfolio=portfolio).codes  # no capital from later runs
    assert audit_verify().ok


def test_retiring_a_paused_strategy_records_its_old_status(portfolio, strategies, actor):
    strategy = strategies["ener-a"]
    strategy_update(strategy=strategy, actor=actor, changes={"status": "paused"})
    strategy_retire(strategy=strategy, actor=actor)
    entry = changes(portfolio, strategy).last()
    assert entry.reason == "strategy ener-a retired"
    assert entry.payload["changes"] == {"status": {"old": "paused", "new": "retired"}}
    assert not fund_changes(strategy).exists()  # it had no fund: no fund change


def test_a_retired_strategy_cannot_be_retired_changed_or_reactivated(portfolio, strategies, actor):
    strategy = strategies["tech-b"]
    strategy_retire(strategy=strategy, actor=actor)
    count = changes(portfolio).count()
    with pytest.raises(ConflictError):
        strategy_retire(strategy=strategy, actor=actor)
    for change in ({"status": "active"}, {"name": "Back"}):
        with pytest.raises(ConflictError) as err:
            strategy_update(strategy=strategy, actor=actor, changes=change)
        assert err.value.field == "status"
    assert Strategy.objects.get(pk=strategy.pk).status == "retired"
    assert changes(portfolio).count() == count


def test_retire_is_all_or_nothing(portfolio, strategies, actor):
    """If the fund cannot be moved, the strategy stays active and no audit row is left."""
    strategy = strategies["tech-a"]
    funds_set_many(portfolio=portfolio, amounts={strategy.pk: Decimal("50.00")}, actor=actor)
    with mock.patch("allocations.services.strategies.funds_set_many", side_effect=RuntimeError("ledger down")):
        with pytest.raises(RuntimeError):
            strategy_retire(strategy=strategy, actor=actor)
    assert Strategy.objects.get(pk=strategy.pk).status == "active"
    assert Fund.objects.get(strategy=strategy).amount == Decimal("50.00")
    assert not changes(portfolio).exists()


def test_a_rename_to_a_name_with_a_bidi_override_is_refused(portfolio, strategies, actor):
    """Issue 21 item 19: U+202E made ``Tech A`` display reversed in the admin, the dashboard and the CSV."""
    strategy = Strategy.objects.get(portfolio=portfolio, code="tech-a")
    with pytest.raises(DomainError) as err:
        strategy_update(strategy=strategy, actor=actor, changes={"name": "Tech \u202eA"})
    assert err.value.field == "name" and "U+202E RIGHT-TO-LEFT OVERRIDE at 5" in err.value.message
    assert Strategy.objects.get(pk=strategy.pk).name == strategy.name


def test_names_in_any_script_are_still_welcome(portfolio, strategies, actor):
    for name in ("Énergie verte", "日本株ロング", "صندوق", "Macro 🌍"):
        strategy_update(
            strategy=Strategy.objects.get(portfolio=portfolio, code="tech-a"), actor=actor, changes={"name": name}
        )
        assert Strategy.objects.get(portfolio=portfolio, code="tech-a").name == name
