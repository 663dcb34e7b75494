"""allocations/services/equity.py on PostgreSQL, in transactions that commit: the database refuses a
commit with funds above the equity, and a rebalance racing an equity cut never ends above it.

Apart from test_equity.py: these tests commit, so they seed their own world (the module world of the
other tests is one outer transaction that never commits, and the check runs at commit)."""

from __future__ import annotations

import threading
from decimal import Decimal
from functools import partial

import pytest
from django.db import IntegrityError, connection, transaction

from allocations.models import Fund, Portfolio
from allocations.selectors.audit import audit_verify
from allocations.services.equity import equity_change_approve, equity_change_request
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import seeded_demo, set_policy

from .conftest import EQUITY, funds_of
from .test_equity import _approved, actor


def _invested(portfolio) -> Decimal:
    return sum(Fund.objects.filter(strategy__portfolio=portfolio).values_list("amount", flat=True), Decimal("0"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_commit_that_leaves_funds_above_the_equity():
    demo = seeded_demo(strategies=8, days=70, seed=4)
    before = funds_of(demo)
    fund = Fund.objects.filter(strategy__portfolio=demo).order_by("strategy_id").first()
    with pytest.raises(IntegrityError, match="above its equity"):
        with transaction.atomic():
            Fund.objects.filter(pk=fund.pk).update(amount=fund.amount + Decimal("1.00"))
    with pytest.raises(IntegrityError, match="above its equity"):
        with transaction.atomic():
            Portfolio.objects.filter(pk=demo.pk).update(total_equity=Decimal("8000000.00"))
    with transaction.atomic():  # above for a moment inside the transaction is fine: checked at commit
        Fund.objects.filter(pk=fund.pk).update(amount=fund.amount + Decimal("1.00"))
        Fund.objects.filter(pk=fund.pk).update(amount=fund.amount)
    assert funds_of(demo) == before
    set_policy(demo, approval_threshold=0.25)
    _approved(demo, "8000000")  # the service scales the funds in the same transaction: it commits
    demo.refresh_from_db()
    assert demo.total_equity == Decimal("8000000.00") and _invested(demo) <= demo.total_equity


def _race(*calls) -> list[BaseException]:
    """Run the calls at the same moment, each on its own connection; what they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        try:
            barrier.wait()
            call()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rebalance_racing_an_equity_cut_never_leaves_funds_above_the_equity():
    """Issue 21 item 3: a rebalance racing an equity cut ended above the equity in 3 of 5 rounds."""
    demo = seeded_demo(strategies=16, days=80, seed=5)
    set_policy(demo, approval_threshold=2.0, max_daily_change=1.0, min_change_threshold=0.0)
    equity = EQUITY
    for round_ in range(5):
        equity = (equity * Decimal("0.8")).quantize(Decimal("0.01"))
        change = equity_change_request(portfolio=demo, actor=actor("risk"), equity=equity, reason=f"round {round_}")
        method = ("equal_weight", "inverse_volatility")[round_ % 2]
        errors = _race(
            partial(equity_change_approve, change=change, actor=actor("risk2"), reason="redemption wired"),
            partial(
                allocation_run_create,
                portfolio=demo,
                actor=actor("pm"),
                request=RebalanceRequest(allocation_method=method),
            ),
        )
        assert not errors, errors
        demo.refresh_from_db()
        assert demo.total_equity == equity
        assert _invested(demo) <= demo.total_equity, f"round {round_}: {_invested(demo)} > {demo.total_equity}"
    assert audit_verify().ok
