"""allocations/services/schedules.py: steps applied one by one, once each, in order; cancel; supersede."""

from __future__ import annotations

import json
import math
import threading
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import connection

from allocations.demo import demo_seed
from allocations.errors import ConflictError, DomainError
from allocations.models import AuditEntry, Fund, Portfolio, Strategy, TransitionSchedule, TransitionStep
from allocations.selectors.audit import audit_verify
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.schedules import transition_schedule_cancel, transition_step_apply, transition_steps_due
from tests.allocations.demo_support import set_policy

from .conftest import EQUITY, funds_of


def test_every_step_applies_once_bounded_and_lands_on_the_target(demo, users):
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    schedule = TransitionSchedule.objects.get(run=outcome.run)
    steps = list(schedule.steps.order_by("index"))
    assert len(steps) >= 5
    actor = Actor.system("test")
    for step in steps[1:]:
        assert transition_step_apply(step_id=step.pk, actor=actor) is True
        snapshot = funds_of(demo)
        assert transition_step_apply(step_id=step.pk, actor=actor) is False  # a second delivery does nothing
        assert funds_of(demo) == snapshot
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.COMPLETED
    funds = funds_of(demo)
    for code, weight in outcome.target_allocation.items():
        assert abs(float(funds[code]) - weight * float(EQUITY)) <= 0.01
    cap = Decimal("0.02") * EQUITY + Decimal("0.01")
    for row in AuditEntry.objects.filter(run=outcome.run, kind=AuditEntry.Kind.FUND_CHANGE):
        assert abs(row.new_amount - row.old_amount) <= cap
    assert audit_verify().ok


def test_a_new_run_supersedes_the_steps_left(demo, users):
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    first = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    ).run
    second = allocation_run_create(
        portfolio=demo,
        actor=Actor.of_user(users["pm"]),
        request=RebalanceRequest(total_equity=EQUITY, allocation_method="equal_weight"),
    ).run
    old = TransitionSchedule.objects.get(run=first)
    assert old.status == TransitionSchedule.Status.SUPERSEDED
    assert not old.steps.filter(status=TransitionStep.Status.PENDING).exists()
    assert TransitionSchedule.objects.get(run=second).status in ("active", "completed")
    assert TransitionSchedule.objects.filter(portfolio=demo, status="active").count() <= 1


def test_cancel_stops_the_schedule_and_keepsfunds_of(demo, users):
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    run = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    ).run
    schedule = TransitionSchedule.objects.get(run=run)
    before = funds_of(demo)
    transition_schedule_cancel(schedule=schedule, actor=Actor.of_user(users["risk"]), reason="market closed")
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.CANCELLED
    assert funds_of(demo) == before
    pending = schedule.steps.exclude(index=1)
    assert all(s.status == TransitionStep.Status.CANCELLED for s in pending)
    assert transition_step_apply(step_id=pending.first().pk, actor=Actor.system("t")) is False
    with pytest.raises(ConflictError):
        transition_schedule_cancel(schedule=schedule, actor=Actor.of_user(users["risk"]), reason="again")


def test_a_strategy_retired_mid_schedule_gets_no_capital_back(demo, users):
    from allocations.services.strategies import strategy_retire

    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    schedule = TransitionSchedule.objects.get(run=outcome.run)
    growing = max(outcome.target_allocation, key=lambda c: outcome.target_allocation[c] - outcome.current_allocation[c])
    strategy = demo.strategies.get(code=growing)
    strategy_retire(strategy=strategy, actor=Actor.of_user(users["risk"]), reason="closed")
    for step in schedule.steps.filter(status=TransitionStep.Status.PENDING).order_by("index"):
        transition_step_apply(step_id=step.pk, actor=Actor.system("test"))
    assert Fund.objects.get(strategy=strategy).amount == 0
    assert audit_verify().ok


# --- once, in order ---------------------------------------------------------------------------


def multi_step_schedule(demo, users) -> TransitionSchedule:
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    run = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    ).run
    schedule = TransitionSchedule.objects.get(run=run)
    assert schedule.steps.count() >= 3
    return schedule


def cents_below(weight: float, equity: Decimal) -> Decimal:
    return Decimal(math.floor(Fraction(repr(weight)) * Fraction(str(equity)) * 100)) / 100


def fund_rows(step) -> list[tuple[int, Decimal, Decimal]]:
    return list(
        AuditEntry.objects.filter(step=step, kind=AuditEntry.Kind.FUND_CHANGE)
        .order_by("id")
        .values_list("strategy_id", "old_amount", "new_amount")
    )


def test_a_step_applied_twice_applies_once(demo, users):
    schedule = multi_step_schedule(demo, users)
    step = schedule.steps.get(index=2)
    previous = schedule.steps.get(index=1).weights
    before = dict(Fund.objects.filter(strategy__portfolio=demo).values_list("strategy_id", "amount"))

    assert transition_step_apply(step_id=step.pk, actor=Actor.system("beat")) is True
    step.refresh_from_db()
    applied_at, rows, funds = step.applied_at, fund_rows(step), funds_of(demo)
    assert step.status == TransitionStep.Status.APPLIED and step.applied_by == "system:beat"
    # every strategy whose weight changes from step 1 to step 2 moves to its step-2 amount, audited once
    changed = {int(sid) for sid, w in step.weights.items() if w != previous[sid]}
    assert changed and {sid for sid, _, _ in rows} == changed
    for sid, old, new in rows:
        assert old == before[sid] and new == cents_below(step.weights[str(sid)], EQUITY)

    assert transition_step_apply(step_id=step.pk, actor=Actor.system("beat-retry")) is False
    step.refresh_from_db()
    assert step.applied_at == applied_at and step.applied_by == "system:beat"
    assert fund_rows(step) == rows and funds_of(demo) == funds
    assert audit_verify().ok


def test_steps_apply_in_order(demo, users):
    schedule = multi_step_schedule(demo, users)
    third = schedule.steps.get(index=3)
    funds = funds_of(demo)
    assert transition_step_apply(step_id=third.pk, actor=Actor.system("beat")) is False  # step 2 first
    third.refresh_from_db()
    assert third.status == TransitionStep.Status.PENDING and funds_of(demo) == funds and not fund_rows(third)
    assert transition_step_apply(step_id=schedule.steps.get(index=2).pk, actor=Actor.system("beat")) is True
    assert transition_step_apply(step_id=third.pk, actor=Actor.system("beat")) is True


def test_a_missing_step_is_not_applied(db):
    assert transition_step_apply(step_id=987654, actor=Actor.system("beat")) is False


def test_steps_due_are_the_pending_steps_of_active_schedules(demo, users):
    schedule = multi_step_schedule(demo, users)
    steps = list(schedule.steps.order_by("index"))
    assert transition_steps_due(today=steps[0].due_date) == []  # step 1 is applied with the run
    assert transition_steps_due(today=steps[2].due_date) == [steps[1].pk, steps[2].pk]
    assert transition_steps_due(today=steps[-1].due_date) == [s.pk for s in steps[1:]]
    transition_schedule_cancel(schedule=schedule, actor=Actor.of_user(users["risk"]), reason="stop")
    assert transition_steps_due(today=steps[-1].due_date) == []


def test_cancel_needs_a_reason(demo, users):
    schedule = multi_step_schedule(demo, users)
    with pytest.raises(DomainError) as err:
        transition_schedule_cancel(schedule=schedule, actor=Actor.of_user(users["risk"]), reason="  ")
    assert err.value.field == "reason"
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.ACTIVE
    entry_kinds = AuditEntry.objects.filter(run=schedule.run).values_list("kind", flat=True)
    assert AuditEntry.Kind.SCHEDULE_CANCELLED not in set(entry_kinds)


def test_cancel_and_supersede_are_audited(demo, users):
    schedule = multi_step_schedule(demo, users)
    left = schedule.steps.filter(status=TransitionStep.Status.PENDING).count()
    transition_schedule_cancel(schedule=schedule, actor=Actor.of_user(users["risk"]), reason="market closed")
    entry = AuditEntry.objects.get(kind=AuditEntry.Kind.SCHEDULE_CANCELLED, run=schedule.run)
    assert entry.payload == {"schedule": schedule.pk, "steps_cancelled": left} and entry.actor == users["risk"]
    schedule.refresh_from_db()
    assert schedule.closed_by == users["risk"] and schedule.close_reason == "market closed"

    second = multi_step_schedule(demo, users)
    left = second.steps.filter(status=TransitionStep.Status.PENDING).count()
    third = allocation_run_create(
        portfolio=demo,
        actor=Actor.of_user(users["pm"]),
        request=RebalanceRequest(total_equity=EQUITY, allocation_method="equal_weight"),
    ).run
    entry = AuditEntry.objects.get(kind=AuditEntry.Kind.SCHEDULE_SUPERSEDED, run=second.run)
    assert entry.payload == {"schedule": second.pk, "steps_superseded": left}
    assert entry.reason == f"superseded by run {third.public_id}"
    assert audit_verify().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_step_delivered_twice_at_once_applies_once():
    demo_seed(strategies=16, days=80, seed=3)
    demo = Portfolio.objects.get(slug="demo")
    from django.contrib.auth import get_user_model

    users = {name: get_user_model().objects.get(username=name) for name in ("pm", "risk")}
    schedule = multi_step_schedule(demo, users)
    step = schedule.steps.get(index=2)
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def deliver(name: str):
        try:
            barrier.wait()
            results.append(transition_step_apply(step_id=step.pk, actor=Actor.system(name)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(f"worker-{k}",)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results) == [False, True]
    rows = fund_rows(step)
    assert rows and len({sid for sid, _, _ in rows}) == len(rows)  # one audit row per moved fund
    assert audit_verify().ok


def test_a_schedules_steps_keep_the_planned_weights_bit_for_bit(demo, users):
    """Steps store their weights packed (float64 bytes): read back, each is the float the answer planned."""
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    codes = dict(Strategy.objects.filter(portfolio=demo).values_list("pk", "code"))
    stored = list(TransitionStep.objects.filter(schedule__run=outcome.run).order_by("index"))
    planned = [step["weights"] for step in outcome.transition_schedule]
    assert len(stored) == len(planned) >= 2
    for step, weights in zip(stored, planned, strict=True):
        assert [codes[int(key)] for key in step.weights] == list(weights)  # the answer's order
        for key, weight in step.weights.items():
            assert type(weight) is float
            assert weight.hex() == float(weights[codes[int(key)]]).hex()
    with connection.cursor() as cursor:  # what the table holds: two packed strings, not an object per strategy
        cursor.execute(f"SELECT weights FROM {TransitionStep._meta.db_table} WHERE id = %s", [stored[0].pk])
        raw = cursor.fetchone()[0]
    raw = json.loads(raw) if isinstance(raw, str) else raw
    assert set(raw) == {"ids", "f8"}


def test_step_weights_written_as_an_object_read_back_as_they_are(demo, users):
    """A step stored before the packed form (an object of id -> weight) reads back unchanged, and
    applying it still moves the funds; a mapping given to the ORM is packed on save."""
    set_policy(demo, approval_threshold=2.0, max_daily_change=0.02, min_change_threshold=0.0)
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.of_user(users["pm"]), request=RebalanceRequest(total_equity=EQUITY)
    )
    step = TransitionStep.objects.get(schedule__run=outcome.run, index=2)
    legacy = {key: weight for key, weight in step.weights.items()}
    with connection.cursor() as cursor:  # the table as an older version wrote it
        cursor.execute(
            f"UPDATE {TransitionStep._meta.db_table} SET weights = %s WHERE id = %s", [json.dumps(legacy), step.pk]
        )
    step.refresh_from_db()
    assert step.weights == legacy
    assert transition_step_apply(step_id=step.pk, actor=Actor.system("test")) is True
    funds = funds_of(demo)
    codes = dict(Strategy.objects.filter(portfolio=demo).values_list("pk", "code"))
    for key, weight in legacy.items():
        assert abs(float(funds[codes[int(key)]]) - weight * float(EQUITY)) <= 0.01
    other = TransitionStep.objects.get(schedule__run=outcome.run, index=3)
    other.weights = {"7": 0.1, "3": 1 / 3}
    other.save(update_fields=["weights"])
    other.refresh_from_db()
    assert other.weights == {"7": 0.1, "3": 1 / 3}
    assert list(other.weights) == ["7", "3"]
