"""The Celery tasks, called in-process (``test_worker.py`` runs them on a real worker and Redis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django_celery_beat.models import PeriodicTask

from allocations.demo import demo_seed
from allocations.errors import DomainError
from allocations.models import (
    AllocationPolicy,
    AllocationRun,
    AuditEntry,
    Fund,
    JobExecution,
    OutboxEvent,
    Portfolio,
    TransitionSchedule,
    TransitionStep,
)
from allocations.services.actors import Actor
from allocations.services.jobs import portfolio_rebalance_scheduled
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.schedules import transition_step_apply
from allocations.tasks import apply_due_transition_steps, rebalance_all_portfolios, rebalance_portfolio
from tests.allocations.jobs_support import book
from tests.factories import PortfolioFactory


@pytest.fixture
def schedule(db):
    demo_seed(strategies=12, days=60, seed=2)
    demo = Portfolio.objects.get(slug="demo")
    AllocationPolicy.objects.filter(portfolio=demo).update(
        approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0
    )
    run = allocation_run_create(portfolio=demo, actor=Actor.system("test"), request=RebalanceRequest()).run
    return TransitionSchedule.objects.get(run=run)


def test_beat_knows_the_due_steps_task(db):
    task = PeriodicTask.objects.get(task="allocations.apply_due_transition_steps")
    assert task.enabled and task.interval.every == 15


def test_due_steps_apply_once_in_order(schedule):
    steps = list(schedule.steps.order_by("index"))
    assert apply_due_transition_steps() == 0  # nothing is due before its day
    TransitionStep.objects.filter(schedule=schedule).update(due_date=dt.date(2000, 1, 3))
    assert apply_due_transition_steps() == len(steps) - 1
    assert apply_due_transition_steps() == 0
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.COMPLETED
    # a step applied again (a redelivered sweep, a second beat) changes nothing
    assert transition_step_apply(step_id=steps[-1].pk, actor=Actor.system("test")) is False


# --- the daily rebalance ------------------------------------------------------------------------


@pytest.fixture
def eager():
    """Tasks sent by tasks (the fan-out) run in this process, as a worker would run them."""
    from capital_allocation.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


def _scheduled(portfolio):
    runs = AllocationRun.objects.filter(portfolio=portfolio, trigger=AllocationRun.Trigger.SCHEDULE)
    return list(runs.order_by("run_date").values_list("run_date", "status"))


def test_beat_knows_every_sweep(db):
    every = {
        t.task: t.interval.every for t in PeriodicTask.objects.filter(enabled=True, task__startswith="allocations.")
    }
    assert every == {
        "allocations.apply_due_transition_steps": 15,
        "allocations.rebalance_all_portfolios": 5,
        "allocations.deliver_webhooks": 1,
    }


def test_daily_job_sent_twice_gives_one_run_per_portfolio_and_date(db, eager):
    books = [book(f"book-{i}", seed=i) for i in range(3)]
    friday_evening = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)
    assert rebalance_all_portfolios(as_of=friday_evening.isoformat()) == 3
    assert rebalance_all_portfolios(as_of=friday_evening.isoformat()) == 0  # nothing is due any more
    # the same message delivered again to the per-portfolio task: the constraint's outcome, not a second run
    assert rebalance_portfolio(books[0].pk, "2026-11-27") == "already_ran"
    for portfolio in books:
        assert _scheduled(portfolio) == [(dt.date(2026, 11, 27), AllocationRun.Status.APPLIED)]
    fan_outs = JobExecution.objects.filter(job="allocations.rebalance_all_portfolios").order_by("started_at")
    assert [e.summary["due"] for e in fan_outs] == [3, 0]
    children = JobExecution.objects.filter(job="allocations.rebalance_portfolio")
    assert sorted(c.summary["outcome"] for c in children) == ["already_ran", "applied", "applied", "applied"]
    assert all(c.status == JobExecution.Status.SUCCEEDED for c in children)


def test_two_per_portfolio_tasks_racing_leave_one_run(transactional_db):
    """The constraint decides, not a check-then-insert: both calls pass the existence check first."""
    portfolio = book("race")
    with mock.patch("allocations.services.jobs.scheduled_run_exists", side_effect=[False, False, False, False, True]):
        assert portfolio_rebalance_scheduled(portfolio_id=portfolio.pk, run_date=dt.date(2026, 11, 27)) == "applied"
        assert portfolio_rebalance_scheduled(portfolio_id=portfolio.pk, run_date=dt.date(2026, 11, 27)) == "already_ran"
    assert len(_scheduled(portfolio)) == 1


def test_a_drift_below_the_force_threshold_records_a_no_op_run(db, eager):
    portfolio = book("calm", force_rebalance_threshold=1.0)
    rebalance_all_portfolios(as_of="2026-11-27T17:00:00+00:00")
    assert _scheduled(portfolio) == [(dt.date(2026, 11, 27), AllocationRun.Status.NO_OP)]


def test_a_run_above_the_approval_threshold_waits(db, eager):
    portfolio = book("big", approval_threshold=0.1)
    rebalance_all_portfolios(as_of="2026-11-27T17:00:00+00:00")
    assert _scheduled(portfolio) == [(dt.date(2026, 11, 27), AllocationRun.Status.PENDING_APPROVAL)]


def test_a_refused_portfolio_is_a_failed_execution_not_a_crash(db, eager):
    book("fine")
    empty = PortfolioFactory(slug="empty", timezone="UTC")
    AllocationPolicy.objects.create(portfolio=empty, version=1, rebalance_time="16:00")
    assert rebalance_all_portfolios(as_of="2026-11-27T17:00:00+00:00") == 2
    failed = JobExecution.objects.get(job="allocations.rebalance_portfolio", portfolio=empty)
    assert failed.status == JobExecution.Status.FAILED and "no active strategies" in failed.error
    assert failed.parent.job == "allocations.rebalance_all_portfolios"


def test_the_job_respects_time_frequency_and_time_zone(db, eager):
    """The clock moves (time-machine); each portfolio runs on its own wall clock and calendar."""
    friday = dt.date(2026, 11, 27)  # returns up to the Friday before the clock starts
    tokyo = book("tokyo", zone="Asia/Tokyo", frequency="daily", at="16:00", seed=1, until=friday)
    york = book("york", zone="America/New_York", frequency="weekly", at="09:30", seed=2, until=friday)
    london = book("london", zone="Europe/London", frequency="monthly", at="08:00", seed=3, until=friday)
    manual = book("manual", frequency="manual", seed=4, until=friday)

    def tick(moment: str) -> set[str]:
        with time_machine.travel(dt.datetime.fromisoformat(moment), tick=False):
            before = set(AllocationRun.objects.values_list("pk", flat=True))
            rebalance_all_portfolios()
            return set(AllocationRun.objects.exclude(pk__in=before).values_list("portfolio__slug", flat=True))

    # Monday 2026-11-30 06:59 UTC = 15:59 in Tokyo, 01:59 in New York, 06:59 in London
    assert tick("2026-11-30T06:59:00+00:00") == set()
    assert tick("2026-11-30T07:00:00+00:00") == {"tokyo"}  # 16:00 in Tokyo
    assert tick("2026-11-30T07:59:00+00:00") == set()
    assert tick("2026-11-30T08:00:00+00:00") == {"london"}  # November's run: none yet this month
    assert tick("2026-11-30T14:29:00+00:00") == set()  # 09:29 in New York
    assert tick("2026-11-30T14:30:00+00:00") == {"york"}  # Monday 09:30 in New York: the week's run
    assert tick("2026-12-01T07:05:00+00:00") == {"tokyo"}  # Tuesday in Tokyo; York already ran this week
    assert tick("2026-12-01T08:00:00+00:00") == {"london"}  # the first business day of December, 08:00
    # Wednesday 23:30 in Tokyo; York and London wait for their next period
    assert tick("2026-12-02T14:30:00+00:00") == {"tokyo"}
    assert tick("2026-12-05T12:00:00+00:00") == set()  # Saturday: no business day anywhere
    # Monday 7 December 14:30 UTC: 09:30 in New York (a new week), 23:30 in Tokyo
    assert tick("2026-12-07T14:30:00+00:00") == {"york", "tokyo"}
    assert [d.day for d, _ in _scheduled(tokyo)] == [30, 1, 2, 7]
    assert [d for d, _ in _scheduled(york)] == [dt.date(2026, 11, 30), dt.date(2026, 12, 7)]
    assert [d for d, _ in _scheduled(london)] == [dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
    assert _scheduled(manual) == []


def test_as_of_catches_up_a_missed_day(db, eager):
    portfolio = book("late", zone="Europe/Paris", until=dt.date(2026, 11, 27))
    with time_machine.travel(dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC), tick=False):
        rebalance_all_portfolios()  # Tuesday noon: before 16:00, nothing
        assert _scheduled(portfolio) == []
        rebalance_all_portfolios(as_of="2026-11-30T17:00:00+01:00")  # Monday evening, missed
    assert [d for d, _ in _scheduled(portfolio)] == [dt.date(2026, 11, 30)]


def test_a_caught_up_run_takes_effect_at_its_moment_and_is_recorded_now(db, eager):
    portfolio = book("late", zone="Europe/Paris", until=dt.date(2026, 11, 27))
    missed = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)
    with time_machine.travel(dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC), tick=False):
        rebalance_all_portfolios(as_of=missed.isoformat())
    run = AllocationRun.objects.get(portfolio=portfolio, run_date=dt.date(2026, 11, 30))
    assert run.created_at == missed
    rows = AuditEntry.objects.filter(portfolio=portfolio, run=run)
    assert rows.exists()
    assert set(rows.values_list("effective_at", flat=True)) == {missed}
    assert all(recorded is not None for recorded in rows.values_list("recorded_at", flat=True))


def test_as_of_must_be_a_timestamp(db):
    with pytest.raises(DomainError, match="as_of"):
        rebalance_all_portfolios(as_of="yesterday-ish")


# --- transition steps -----------------------------------------------------------------------------


def test_due_dates_in_the_past_carry_a_five_step_schedule_exactly_to_the_target(db):
    portfolio = book("five", transition_period_days=5, max_daily_change=0.5)
    run = allocation_run_create(portfolio=portfolio, actor=Actor.system("test"), request=RebalanceRequest()).run
    schedule = TransitionSchedule.objects.get(run=run)
    assert schedule.steps.count() == 5
    TransitionStep.objects.filter(schedule=schedule).update(due_date=dt.date(2000, 1, 3))
    assert apply_due_transition_steps() == 4
    assert apply_due_transition_steps() == 0  # a second sweep (or a redelivered message) changes nothing
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.COMPLETED
    assert list(schedule.steps.values_list("status", flat=True)) == ["applied"] * 5
    target = dict(run.lines.values_list("strategy__code", "target_amount"))
    funds = dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy__code", "amount"))
    assert funds == target  # to the cent
    events = OutboxEvent.objects.filter(run=run)
    assert sorted(e.payload.get("step", 0) for e in events) == [0, 1, 2, 3, 4, 5]  # the target and five steps
    last = events.get(step__index=5)
    assert {code: Decimal(a) for code, a in last.payload["amounts"].items()} == target
    execution = JobExecution.objects.filter(job="allocations.apply_due_transition_steps").order_by("started_at")
    assert [e.summary["applied"] for e in execution] == [4, 0]


def test_a_step_delivered_twice_is_applied_once(schedule):
    TransitionStep.objects.filter(schedule=schedule).update(due_date=dt.date(2000, 1, 3))
    second = schedule.steps.get(index=2)
    actor = Actor.system("test")
    assert transition_step_apply(step_id=second.pk, actor=actor) is True
    assert transition_step_apply(step_id=second.pk, actor=actor) is False
    moves = AuditEntry.objects.filter(step_id=second.pk, kind=AuditEntry.Kind.FUND_CHANGE)
    assert moves.count() == moves.values("strategy_id").distinct().count() > 0
    assert OutboxEvent.objects.filter(step=second).count() == 1
