"""The audit trail's times (issue 21, items 1-2): ``recorded_at`` is the database's, ``effective_at`` says when a
change took effect where that is another time, every view of the trail follows the chain, and nothing is written
from the future, at whatever hour or weekday the suite runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from rest_framework.test import APIClient

from allocations import clock
from allocations.demo import demo_seed
from allocations.models import AuditEntry, Portfolio, Strategy
from allocations.selectors.audit import audit_list, audit_verify, fund_changes_recent
from allocations.services.actors import Actor
from allocations.services.audit import audit_append
from allocations.services.funds import fund_set
from tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db
TABLE = AuditEntry._meta.db_table
ROOT = Path(__file__).resolve().parents[3]
ACTOR = Actor.command("test")

# A Monday 02:00 UTC (before the 08:00 the demo used to stamp), a Tuesday 23:59 UTC (the next day already in
# zones east of UTC) and a Saturday: the hours and days a CI run can start at.
MOMENTS = [
    dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 8, 23, 59, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 12, 12, 0, tzinfo=dt.UTC),
]


def _append(portfolio: Portfolio, reason: str) -> AuditEntry:
    with transaction.atomic():
        return audit_append(portfolio=portfolio, actor=ACTOR, kind=AuditEntry.Kind.DATA_IMPORT, reason=reason)


def _behind_the_triggers_back(sql: str, params) -> None:
    """What the tables' owner can do: the append-only triggers out of the way for one statement."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
            return
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'allocations_audit%'")
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {name}")
        try:
            cursor.execute(sql, params)
        finally:
            for _, create in triggers:
                cursor.execute(create)


@pytest.fixture
def portfolio():
    return Portfolio.objects.create(slug="times", name="Times", total_equity=Decimal("1000000.00"))


def _database_now() -> dt.datetime:
    return Portfolio.objects.annotate(now=Now()).values_list("now", flat=True).first()


def test_recorded_at_is_stamped_by_the_database_on_every_row(portfolio):
    before = _database_now()
    row = _append(portfolio, "first")
    stored = AuditEntry.objects.get(pk=row.pk)
    assert stored.effective_at is None
    # The database's own clock (this process's may be pinned elsewhere: PIN_CLOCK, time-machine)
    assert before <= stored.recorded_at <= _database_now()


def test_a_caller_cannot_choose_recorded_at(portfolio):
    row = AuditEntry(
        portfolio=portfolio,
        kind=AuditEntry.Kind.DATA_IMPORT,
        created_at=timezone.now(),
        recorded_at=timezone.now() - dt.timedelta(days=30),
        actor_label="command:test",
        prev_hash="0" * 64,
        entry_hash="0" * 64,
        seq=1,
    )
    with pytest.raises(Exception, match="recorded_at is the database's"):
        row.save()
    assert not AuditEntry.objects.filter(portfolio=portfolio).exists()


def test_recorded_at_never_decreases_along_a_chain_and_verify_audit_says_so_when_it_does(portfolio):
    rows = [_append(portfolio, f"row {i}") for i in range(4)]
    stored = list(AuditEntry.objects.filter(portfolio=portfolio).order_by("seq"))
    assert [r.recorded_at for r in stored] == sorted(r.recorded_at for r in stored)
    assert audit_verify(portfolio=portfolio).ok

    earlier = stored[1].recorded_at - dt.timedelta(days=1)
    _behind_the_triggers_back(f"UPDATE {TABLE} SET recorded_at = %s WHERE id = %s", [earlier, rows[2].pk])
    result = audit_verify(portfolio=portfolio)
    assert not result.ok
    assert result.first_bad.pk == rows[2].pk
    assert "never runs backwards" in result.problem


def test_a_change_in_effect_at_another_time_keeps_both_times_and_its_effective_time_is_hashed(portfolio):
    moment = timezone.now() - dt.timedelta(days=40)
    before = _database_now()
    with clock.effective(moment):
        row = _append(portfolio, "caught up")
    stored = AuditEntry.objects.get(pk=row.pk)
    assert stored.effective_at == moment
    assert stored.recorded_at >= before  # recorded now, not then
    assert audit_verify(portfolio=portfolio).ok

    _behind_the_triggers_back(
        f"UPDATE {TABLE} SET effective_at = %s WHERE id = %s", [moment - dt.timedelta(days=1), row.pk]
    )
    result = audit_verify(portfolio=portfolio)
    assert not result.ok and "altered" in result.problem


def test_nothing_is_written_from_the_future(portfolio):
    with pytest.raises(clock.MomentInTheFuture), clock.effective(timezone.now() + dt.timedelta(minutes=1)):
        pass
    with pytest.raises(clock.MomentInTheFuture):
        demo_seed(strategies=4, days=70, now=timezone.now() + dt.timedelta(hours=1))
    assert not AuditEntry.objects.exists()


def test_the_trail_is_read_in_chain_order_whatever_the_times_say(portfolio):
    strategy = StrategyFactory(portfolio=portfolio)
    fund_set(portfolio=portfolio, strategy=strategy, amount="100.00", actor=ACTOR, reason="today")
    with clock.effective(timezone.now() - dt.timedelta(days=3)):  # a catch-up written after it
        fund_set(portfolio=portfolio, strategy=strategy, amount="200.00", actor=ACTOR, reason="caught up")
    assert [e.reason for e in fund_changes_recent(portfolio=portfolio)] == ["caught up", "today"]
    assert [e.seq for e in audit_list(portfolio=portfolio)] == [2, 1]


@pytest.mark.parametrize("moment", MOMENTS, ids=["monday-0200Z", "tuesday-2359Z", "saturday"])
def test_the_seeded_demo_holds_no_row_from_the_future_and_reads_newest_first(moment):
    with time_machine.travel(moment, tick=True):
        demo_seed(strategies=6, days=70)
        demo = Portfolio.objects.get(slug="demo")
        now = timezone.now()
        rows = list(AuditEntry.objects.all())
        assert rows
        assert all(r.created_at <= now and (r.effective_at is None or r.effective_at <= now) for r in rows)

        strategy = Strategy.objects.filter(portfolio=demo).order_by("code").first()
        fund_set(portfolio=demo, strategy=strategy, amount="1234.56", actor=ACTOR, reason="after the seed")
        assert fund_changes_recent(portfolio=demo, limit=1)[0].reason == "after the seed"
        from django.contrib.auth import get_user_model

        client = APIClient()
        client.force_authenticate(get_user_model().objects.get(username="viewer"))
        body = client.get("/api/v1/portfolios/demo/allocation/current").json()
        assert body["recent_changes"][0]["strategy"] == strategy.code
        assert body["recent_changes"][0]["new_amount"] == "1234.56"


@pytest.mark.parametrize("moment", MOMENTS, ids=["monday-0200Z", "tuesday-2359Z", "saturday"])
def test_the_demos_lived_history_takes_effect_in_the_past_in_chain_order(moment):
    with time_machine.travel(moment, tick=True):
        demo_seed(strategies=6, days=70, history_days=4)
        demo = Portfolio.objects.get(slug="demo")
        times = list(AuditEntry.objects.filter(portfolio=demo).order_by("seq").values_list("effective_at", flat=True))
        assert times and all(t is not None for t in times)
        assert times == sorted(times)
        assert times[-1] < timezone.now()
        assert audit_verify().ok


def test_the_demo_takes_its_clock_as_a_parameter():
    then = timezone.now() - dt.timedelta(days=10)
    demo_seed(strategies=4, days=70, now=then)
    demo = Portfolio.objects.get(slug="demo")
    assert set(AuditEntry.objects.filter(portfolio=demo).values_list("effective_at", flat=True)) == {then}
    last_day = demo.strategies.first().returns.order_by("-date").values_list("date", flat=True).first()
    assert last_day < timezone.localtime(then).date()


def test_no_product_code_patches_the_clock():
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("allocations", "accounts", "capital_allocation", "deploy")
        for path in (ROOT / package).rglob("*.py")
        if "unittest" in path.read_text() and "mock" in path.read_text()
    ]
    assert offenders == []
