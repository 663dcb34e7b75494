"""The Celery tasks, called in-process (the jobs issue adds a real worker test)."""

from __future__ import annotations

import datetime as dt

import pytest
from django_celery_beat.models import PeriodicTask

from allocations.models import AllocationPolicy, Portfolio, TransitionSchedule, TransitionStep
from allocations.services.actors import Actor
from allocations.services.demo import demo_seed
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.schedules import transition_step_apply
from allocations.tasks import apply_due_transition_steps


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
