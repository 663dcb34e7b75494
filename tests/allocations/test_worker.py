"""The jobs on a real Celery worker (two pool processes) and Redis, started and stopped here.

The worker runs ``celery -A capital_allocation worker`` against this test run's PostgreSQL database,
on a Redis database and a queue of its own (so concurrent runs do not collide). Rows are
committed (transactional tests) so the worker sees them. CI's PostgreSQL + Redis pass runs these;
on SQLite and the embedded broker they are skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection, transaction

from allocations.models import (
    AllocationRun,
    AuditEntry,
    JobExecution,
    Portfolio,
    TransitionSchedule,
    TransitionStep,
    WebhookDelivery,
)
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.webhook_endpoints import webhook_endpoint_create
from tests.allocations.jobs_support import Receiver, Worker, book, event_of, signature_ok, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REDIS_DB = 11  # this module's own Redis database


@pytest.fixture
def database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker_url() -> str:
    parts = urlsplit(settings.CELERY_BROKER_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


@pytest.fixture
def queue(broker_url):
    name = f"cae-jobs-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield name
    redis.Redis.from_url(broker_url).delete(name)


@pytest.fixture
def sender(broker_url, queue, monkeypatch):
    """A Celery client of the worker's broker and queue (what beat or an operator would send)."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would prefer it to ``broker=``
    app = Celery("jobs-test", broker=broker_url, set_as_current=False)
    app.conf.task_default_queue = queue
    yield app
    app.close()


@pytest.fixture
def workers(database_url, broker_url, queue, tmp_path):
    """Start workers with ``workers(**env)``; every one is stopped (killed if it must) after the test."""
    started: list[Worker] = []

    def start(**env) -> Worker:
        worker = Worker(
            database_url=database_url,
            broker_url=broker_url,
            queue=queue,
            log=tmp_path / "worker.log",
            env={"PORTFOLIO_LOCK_TIMEOUT_MS": "60000", **{k: str(v) for k, v in env.items()}},
        )
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop()
    log = tmp_path / "worker.log"
    if log.exists():
        print(log.read_text()[-5000:])  # shown by pytest when the test failed


def _finished(job: str) -> int:
    return JobExecution.objects.filter(job=job, finished_at__isnull=False).count()


def _schedule_due(slug: str) -> TransitionSchedule:
    portfolio = book(slug, transition_period_days=5, max_daily_change=0.5)
    run = allocation_run_create(portfolio=portfolio, actor=Actor.system("test"), request=RebalanceRequest()).run
    schedule = TransitionSchedule.objects.get(run=run)
    TransitionStep.objects.filter(schedule=schedule).update(due_date=dt.date(2000, 1, 3))
    return schedule


def _applied_once(schedule: TransitionSchedule) -> None:
    schedule.refresh_from_db()
    assert schedule.status == TransitionSchedule.Status.COMPLETED
    for step in schedule.steps.all():
        assert step.status == TransitionStep.Status.APPLIED
        moves = AuditEntry.objects.filter(step_id=step.pk, kind=AuditEntry.Kind.FUND_CHANGE)
        assert moves.count() == moves.values("strategy_id").distinct().count() > 0, f"step {step.index} twice"


def test_the_daily_job_sent_twice_leaves_one_run_per_portfolio_and_date(workers, sender):
    books = [book(f"w{i}", seed=i) for i in range(4)]
    workers()
    as_of = "2026-11-27T17:00:00+00:00"
    for _ in range(2):  # two beats, or one message delivered twice
        sender.send_task("allocations.rebalance_all_portfolios", kwargs={"as_of": as_of})
    wait_for(lambda: _finished("allocations.rebalance_all_portfolios") == 2, what="both fan-outs")
    fanned = sum(e.summary["due"] for e in JobExecution.objects.filter(job="allocations.rebalance_all_portfolios"))
    wait_for(lambda: _finished("allocations.rebalance_portfolio") == fanned, what="every per-portfolio task")
    for portfolio in books:
        runs = AllocationRun.objects.filter(portfolio=portfolio, trigger=AllocationRun.Trigger.SCHEDULE)
        assert list(runs.values_list("run_date", flat=True)) == [dt.date(2026, 11, 27)]
    outcomes = JobExecution.objects.filter(job="allocations.rebalance_portfolio").values_list("summary", flat=True)
    assert sorted(o["outcome"] for o in outcomes).count("applied") == 4


def test_steps_sent_three_times_to_two_processes_are_applied_once(workers, sender):
    schedule = _schedule_due("twice")
    workers()
    for _ in range(3):
        sender.send_task("allocations.apply_due_transition_steps")
    wait_for(lambda: _finished("allocations.apply_due_transition_steps") == 3, what="three sweeps")
    _applied_once(schedule)
    sweeps = JobExecution.objects.filter(job="allocations.apply_due_transition_steps")
    assert sum(s.summary["applied"] for s in sweeps) == 4  # steps 2 to 5, each by one sweep only


def _waiting_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return row[0] > 0


def test_a_worker_killed_mid_step_leaves_the_step_applied_once_after_restart(workers, sender, database_url):
    schedule = _schedule_due("killed")
    worker = workers(CELERY_VISIBILITY_TIMEOUT=2)
    with transaction.atomic():
        # hold the portfolio's lock so the worker's step stops half-way, inside its transaction
        Portfolio.objects.select_for_update().get(pk=schedule.portfolio_id)
        sender.send_task("allocations.apply_due_transition_steps")
        wait_for(lambda: _waiting_on_a_lock(database_url), what="the worker to block inside the step")
        worker.kill()  # SIGKILL: no acknowledgement, its transaction dies with its connection
    step2 = schedule.steps.get(index=2)
    assert step2.status == TransitionStep.Status.PENDING
    running = JobExecution.objects.get(job="allocations.apply_due_transition_steps")
    assert running.status == JobExecution.Status.RUNNING  # the operator sees the execution that never ended

    # Redis hands the unacknowledged message out again after the visibility timeout
    workers(CELERY_VISIBILITY_TIMEOUT=2)
    wait_for(lambda: _finished("allocations.apply_due_transition_steps") >= 1, timeout=60, what="the redelivery")
    _applied_once(schedule)


def test_a_real_worker_delivers_the_outbox_with_a_signature(workers, sender):
    portfolio = book("hooked", transition_period_days=3, max_daily_change=0.5)
    with Receiver(status=200) as receiver:
        endpoint = webhook_endpoint_create(portfolio=portfolio, url=receiver.url, actor=Actor.system("test"))
        allocation_run_create(portfolio=portfolio, actor=Actor.system("test"), request=RebalanceRequest())
        workers()
        sender.send_task("allocations.deliver_webhooks")
        wait_for(
            lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERED).count() == 2,
            what="both events delivered",
        )
    assert len(receiver.requests) == 2
    assert all(signature_ok(endpoint.secret, r) for r in receiver.requests)
    assert {event_of(r)["type"] for r in receiver.requests} == {"allocation.target_approved", "allocation.step_applied"}
