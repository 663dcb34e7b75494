"""Fund services: every change writes the fund and exactly one audit row, or nothing at all."""

from __future__ import annotations

import math
from contextlib import contextmanager
from decimal import Decimal

import pytest

from allocations.errors import DomainError
from allocations.models import AuditEntry, Fund, Strategy
from allocations.selectors.audit import audit_verify
from allocations.selectors.funds import fund_total_capital, fund_weights
from allocations.services.actors import Actor
from allocations.services.funds import fund_adjust, fund_set, funds_set_many
from tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


def _state():
    """Everything a refused request must leave untouched."""
    return (
        sorted(Fund.objects.values_list("strategy_id", "amount")),
        list(AuditEntry.objects.order_by("id").values_list("id", "entry_hash")),
    )


@contextmanager
def _refused_naming(field: str):
    """The block must raise a DomainError naming ``field`` and leave ``_state()`` as it was."""
    before = _state()
    with pytest.raises(DomainError) as caught:
        yield caught
    assert caught.value.field == field
    assert _state() == before


def _summed_total(portfolio) -> Decimal:
    return sum((f.amount for f in Fund.objects.all() if f.strategy.portfolio_id == portfolio.pk), Decimal("0"))


def test_fund_set_writes_fund_and_one_audit_row(portfolio, strategies, actor, risk_user):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="1000.00", actor=actor, reason="seed a")
    last_id_before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()

    fund = fund_set(portfolio=portfolio, strategy=strategies["tech-b"], amount=2500.5, actor=actor, reason="seed b")

    assert fund.amount == Decimal("2500.50")
    assert Fund.objects.get(strategy=strategies["tech-b"]).amount == Decimal("2500.50")
    new_rows = list(AuditEntry.objects.filter(id__gt=last_id_before))
    assert len(new_rows) == 1
    row = new_rows[0]
    assert row.kind == AuditEntry.Kind.FUND_CHANGE
    assert row.portfolio_id == portfolio.pk
    assert row.strategy_id == strategies["tech-b"].pk
    assert row.old_amount == Decimal("0.00")
    assert row.new_amount == Decimal("2500.50")
    assert row.total_capital == _summed_total(portfolio) == Decimal("3500.50")
    assert row.actor_id == risk_user.pk
    assert row.actor_label == f"user:{risk_user.username}"
    assert row.reason == "seed b"


def test_fund_set_changing_an_amount_records_old_and_new(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100", actor=actor)
    fund_set(portfolio=portfolio, strategy="ener-a", amount="300", actor=actor)
    fund_set(portfolio=portfolio, strategy="tech-a", amount="250.25", actor=Actor.system("rebalance"), reason="up")

    last = AuditEntry.objects.order_by("-id").first()
    assert (last.old_amount, last.new_amount) == (Decimal("100.00"), Decimal("250.25"))
    assert last.total_capital == _summed_total(portfolio) == Decimal("550.25")
    assert last.actor_id is None and last.actor_label == "system:rebalance"
    assert AuditEntry.objects.filter(kind="fund_change").count() == 3
    assert fund_total_capital(portfolio=portfolio) == Decimal("550.25")


def test_fund_adjust_multiplies_and_audits(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="1000", actor=actor)
    fund_set(portfolio=portfolio, strategy="tech-b", amount="400", actor=actor)
    before = AuditEntry.objects.count()

    fund = fund_adjust(portfolio=portfolio, strategy="tech-a", ratio=1.1, actor=actor, reason="+10 %")

    assert fund.amount == Decimal("1100.00")
    assert AuditEntry.objects.count() == before + 1
    row = AuditEntry.objects.order_by("-id").first()
    assert (row.old_amount, row.new_amount, row.reason) == (Decimal("1000.00"), Decimal("1100.00"), "+10 %")
    assert row.total_capital == _summed_total(portfolio) == Decimal("1500.00")

    fund_adjust(portfolio=portfolio, strategy=strategies["tech-b"], ratio="0.5", actor=actor)
    assert Fund.objects.get(strategy=strategies["tech-b"]).amount == Decimal("200.00")


def test_fund_weights_are_amount_over_total(portfolio, strategies, actor):
    amounts = {"tech-a": Decimal("123.45"), "tech-b": Decimal("876.55"), "ener-a": Decimal("1000.00")}
    for code, amount in amounts.items():
        fund_set(portfolio=portfolio, strategy=code, amount=amount, actor=actor)
    total = sum(amounts.values())
    weights = fund_weights(portfolio=portfolio)
    assert set(weights) == set(amounts)
    for code, amount in amounts.items():
        assert weights[code] == pytest.approx(float(amount) / float(total), rel=1e-12)
    assert math.fsum(weights.values()) == pytest.approx(1.0, abs=1e-12)


def test_fund_weights_empty_without_capital(portfolio, strategies):
    assert fund_weights(portfolio=portfolio) == {}
    assert fund_total_capital(portfolio=portfolio) == Decimal("0.00")


def test_total_capital_is_per_portfolio(portfolio, other_portfolio, strategies, actor):
    elsewhere = StrategyFactory(portfolio=other_portfolio, code="else-a")
    fund_set(portfolio=other_portfolio, strategy=elsewhere, amount="999", actor=actor)
    fund_set(portfolio=portfolio, strategy="tech-a", amount="10", actor=actor)
    row = AuditEntry.objects.order_by("-id").first()
    assert row.total_capital == Decimal("10.00")
    assert fund_total_capital(portfolio=other_portfolio) == Decimal("999.00")


@pytest.mark.parametrize(
    "amount",
    [math.nan, math.inf, -math.inf, -0.01, "-5", "NaN", "Infinity", "abc", None, True, [1], "1e18"],
)
def test_bad_amount_raises_naming_amount_and_writes_nothing(portfolio, strategies, actor, amount):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100", actor=actor)
    with _refused_naming("amount") as caught:
        fund_set(portfolio=portfolio, strategy="tech-a", amount=amount, actor=actor)
    assert "amount" in str(caught.value)


@pytest.mark.parametrize("ratio", [0, 0.0, -0.5, "-1", math.nan, math.inf, "nan", "x", None, False])
def test_bad_ratio_raises_naming_ratio_and_writes_nothing(portfolio, strategies, actor, ratio):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100", actor=actor)
    with _refused_naming("ratio"):
        fund_adjust(portfolio=portfolio, strategy="tech-a", ratio=ratio, actor=actor)


def test_unknown_strategy_raises_naming_strategy(portfolio, strategies, actor):
    before = _state()
    with pytest.raises(DomainError) as caught:
        fund_set(portfolio=portfolio, strategy="no-such", amount="1", actor=actor)
    assert caught.value.field == "strategy"
    assert "no-such" in str(caught.value)
    with pytest.raises(DomainError) as caught:
        fund_adjust(portfolio=portfolio, strategy="no-such", ratio=2, actor=actor)
    assert caught.value.field == "strategy"
    assert _state() == before


def test_strategy_of_another_portfolio_is_refused(portfolio, other_portfolio, strategies, actor):
    foreign = StrategyFactory(portfolio=other_portfolio, code="foreign")
    before = _state()
    with pytest.raises(DomainError) as caught:
        fund_set(portfolio=portfolio, strategy=foreign, amount="1", actor=actor)
    assert caught.value.field == "strategy"
    # By code too: the code exists, but not in this portfolio.
    with pytest.raises(DomainError) as caught:
        fund_set(portfolio=portfolio, strategy="foreign", amount="1", actor=actor)
    assert caught.value.field == "strategy"
    assert _state() == before


def test_adjust_without_fund_is_refused(portfolio, strategies, actor):
    with _refused_naming("strategy"):
        fund_adjust(portfolio=portfolio, strategy="tech-a", ratio=1.5, actor=actor)


def test_retired_strategy_cannot_receive_capital(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="50", actor=actor)
    Strategy.objects.filter(pk=strategies["tech-a"].pk).update(status=Strategy.Status.RETIRED)
    with _refused_naming("strategy"):
        fund_set(portfolio=portfolio, strategy="tech-a", amount="60", actor=actor)
    fund_set(portfolio=portfolio, strategy="tech-a", amount="0", actor=actor)  # winding down is allowed
    assert Fund.objects.get(strategy=strategies["tech-a"]).amount == Decimal("0.00")


def test_setting_the_same_amount_again_writes_no_audit_row(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100.10", actor=actor)
    before = _state()
    fund_set(portfolio=portfolio, strategy="tech-a", amount=100.1, actor=actor)
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100.100", actor=actor)
    fund_adjust(portfolio=portfolio, strategy="tech-a", ratio=1, actor=actor)
    assert _state() == before


def test_setting_zero_on_a_strategy_without_fund_creates_it_and_audits(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="ener-a", amount=0, actor=actor)
    assert Fund.objects.get(strategy=strategies["ener-a"]).amount == Decimal("0.00")
    assert AuditEntry.objects.filter(strategy=strategies["ener-a"]).count() == 1


@pytest.mark.parametrize(
    "given, stored",
    [
        ("10.005", Decimal("10.00")),  # half-even: ties go to the even cent
        ("10.015", Decimal("10.02")),
        ("10.0049", Decimal("10.00")),
        ("10.0051", Decimal("10.01")),
        (0.1 + 0.2, Decimal("0.30")),
        (7, Decimal("7.00")),
    ],
)
def test_amounts_are_rounded_to_the_cent(portfolio, strategies, actor, given, stored):
    fund_set(portfolio=portfolio, strategy="tech-a", amount=given, actor=actor)
    assert Fund.objects.get(strategy=strategies["tech-a"]).amount == stored
    assert AuditEntry.objects.order_by("-id").first().new_amount == stored


def test_adjust_rounds_the_product_to_the_cent(portfolio, strategies, actor):
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100.00", actor=actor)
    fund_adjust(portfolio=portfolio, strategy="tech-a", ratio="1.00333", actor=actor)
    # 100.00 * 1.00333 = 100.333 -> 100.33
    assert Fund.objects.get(strategy=strategies["tech-a"]).amount == Decimal("100.33")


def test_every_fund_change_keeps_the_chain_verifiable(portfolio, strategies, actor):
    for i, code in enumerate(["tech-a", "tech-b", "ener-a", "tech-a"]):
        fund_set(portfolio=portfolio, strategy=code, amount=100 * (i + 1), actor=actor)
    result = audit_verify(portfolio=portfolio)
    assert result.ok and result.checked == 4


def test_a_multi_fund_change_applies_decreases_first_so_no_row_shows_more_capital(portfolio, strategies, actor):
    """Issue 8 item 14: a step applied increases before decreases, and the audit trail's running
    total capital read 10,097,492.47 on a 10,000,000 book."""
    ids = {code: s.pk for code, s in strategies.items()}
    funds_set_many(
        portfolio=portfolio,
        amounts={ids["tech-a"]: Decimal("600.00"), ids["tech-b"]: Decimal("400.00")},
        actor=actor,
    )
    # move 300 from tech-a to ener-a, the increase listed first
    rows = funds_set_many(
        portfolio=portfolio,
        amounts={ids["ener-a"]: Decimal("300.00"), ids["tech-a"]: Decimal("300.00")},
        actor=actor,
    )
    assert [row.strategy_id for row in rows] == [ids["tech-a"], ids["ener-a"]]
    assert max(row.total_capital for row in rows) == Decimal("1000.00")
    assert rows[-1].total_capital == _summed_total(portfolio) == Decimal("1000.00")


def test_funds_are_never_raised_above_the_equity(portfolio, strategies, actor):
    """Issue 21 item 3: the funds stayed at 10 M on an 8 M equity; a change that would put them
    above it is refused naming the amount (PostgreSQL's commit check would refuse it anyway)."""
    fund_set(portfolio=portfolio, strategy="tech-a", amount="600000", actor=actor)
    with pytest.raises(DomainError) as err:
        fund_set(portfolio=portfolio, strategy="tech-b", amount="400000.01", actor=actor)
    assert err.value.field == "amount"
    assert not Fund.objects.filter(strategy__code="tech-b").exists()
    fund_set(portfolio=portfolio, strategy="tech-b", amount="400000", actor=actor)  # exactly the equity
    assert sum(Fund.objects.values_list("amount", flat=True)) == portfolio.total_equity
