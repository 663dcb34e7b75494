"""The daily job end to end: 1,000 portfolios x 100 strategies x 250 days, one Celery worker with two processes.

Seeds (once) a template database ``<name>_seed``: ``--portfolios`` portfolios of ``--strategies``
strategies in 10 sectors with ``--days`` business days of returns (COPY), one policy each
(daily at 16:00 UTC, the specification's defaults, approval threshold 2 so every run is applied at
once: the heaviest path, i.e. run, lines, schedule, step 1 moving every fund, one audit row per
move, the outbox events). Each measurement copies the template into ``<name>`` (so the runs start
from the same state), starts ``celery worker -c 2`` on it and Redis, sends
``allocations.rebalance_all_portfolios`` twice (as two beats would) for a Friday 17:00 UTC, and
times until every portfolio has its scheduled run and every per-portfolio task has ended. It
checks that no portfolio got two runs for the date and prints the wall time and the time per
portfolio.

Usage (PostgreSQL and Redis are what the target is about):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cae_bench_jobs CELERY_BROKER_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/jobs.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = "2026-11-27T17:00:00+00:00"  # a Friday, after every portfolio's 16:00 UTC
RUN_DATE = dt.date(2026, 11, 27)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _exists(url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def seed(url: str, *, portfolios: int, strategies: int, days: int) -> None:
    """Migrate the template database and fill it (skipped when it holds the same shape already)."""
    from django.core.management import call_command
    from django.db import connection

    from allocations.models import AllocationPolicy, Portfolio, Sector, Strategy

    call_command("migrate", verbosity=0)
    if Portfolio.objects.filter(slug__startswith="bench-").count() == portfolios and (
        Strategy.objects.filter(portfolio__slug="bench-0000").count() == strategies
    ):
        print(f"template: {portfolios} portfolios x {strategies} strategies already seeded")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # planner statistics, as autovacuum keeps them on a live database
        return
    started = time.perf_counter()
    Sector.objects.bulk_create(
        [Sector(code=f"bench-sector-{k}", name=f"Bench sector {k}") for k in range(10)], ignore_conflicts=True
    )
    sectors = list(Sector.objects.filter(code__startswith="bench-sector-").order_by("code"))
    books = Portfolio.objects.bulk_create(
        [
            Portfolio(slug=f"bench-{i:04d}", name=f"Bench {i}", total_equity=10_000_000, timezone="UTC")
            for i in range(portfolios)
        ]
    )
    AllocationPolicy.objects.bulk_create(
        [AllocationPolicy(portfolio=p, version=1, approval_threshold=2.0, rebalance_time=dt.time(16, 0)) for p in books]
    )
    rows = Strategy.objects.bulk_create(
        [
            Strategy(portfolio=p, code=f"s-{j:03d}", name=f"Strategy {j}", sector=sectors[j % len(sectors)])
            for p in books
            for j in range(strategies)
        ],
        batch_size=5000,
    )
    ids = np.array([s.pk for s in rows], dtype=np.int64).reshape(portfolios, strategies)
    dates = np.busday_offset(
        np.datetime64(RUN_DATE - dt.timedelta(days=1), "D"), -np.arange(days)[::-1], roll="backward"
    )
    day_text = [str(d) for d in dates]
    rng = np.random.default_rng(2026)
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor().copy("COPY allocations_strategyreturn (strategy_id, date, value) FROM STDIN") as copy:
            for i in range(portfolios):
                market = rng.normal(0.0003, 0.008, size=(days, 1))
                values = market * rng.uniform(0.3, 1.5, size=(1, strategies)) + rng.normal(
                    0.0002, 0.01, size=(days, strategies)
                )
                buffer = io.StringIO()
                for j in range(strategies):
                    sid = ids[i, j]
                    buffer.write("".join(f"{sid}\t{day_text[t]}\t{values[t, j]:.8f}\n" for t in range(days)))
                copy.write(buffer.getvalue())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # visibility map and planner statistics, as on a live database
    print(f"template: seeded {portfolios} x {strategies} x {days} in {time.perf_counter() - started:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portfolios", type=int, default=1000)
    parser.add_argument("--strategies", type=int, default=100)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not broker.startswith("redis://"):
        print("set DATABASE_URL=postgres://.../<name> and CELERY_BROKER_URL=redis://...; see the docstring")
        return 2
    name = urlsplit(url).path.lstrip("/")
    template = f"{name}_seed"
    if not _exists(url, template):
        _admin(url, f'CREATE DATABASE "{template}"')

    os.environ["DATABASE_URL"] = _with_db(url, template)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capital_allocation.settings.base")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, connections

    seed(url, portfolios=args.portfolios, strategies=args.strategies, days=args.days)
    connections.close_all()

    # a fresh copy of the seeded state for this measurement
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name

    from celery import Celery

    from allocations.models import AllocationRun, JobExecution
    from tests.allocations.jobs_support import celery_worker_command, celery_worker_env

    queue = f"bench-jobs-{uuid.uuid4().hex[:8]}"
    env = celery_worker_env("capital_allocation.settings.base", database_url=url, broker_url=broker, queue=queue)
    log = open(ROOT / "var" / "bench-jobs-worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        celery_worker_command(queue, args.concurrency),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    os.environ.pop("CELERY_BROKER_URL", None)  # Celery would prefer it to broker= below
    sender = Celery("bench-jobs", broker=broker, set_as_current=False)
    sender.conf.task_default_queue = queue
    try:
        deadline = time.monotonic() + 60
        while not sender.control.ping(destination=[f"{queue}@{socket.gethostname()}"], timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                print("the worker did not start; see var/bench-jobs-worker.log")
                return 1
        started = time.perf_counter()
        for _ in range(2):  # two beats, or one message delivered twice
            sender.send_task("allocations.rebalance_all_portfolios", kwargs={"as_of": AS_OF})
        scheduled = AllocationRun.objects.filter(trigger=AllocationRun.Trigger.SCHEDULE, run_date=RUN_DATE)
        children = JobExecution.objects.filter(job="allocations.rebalance_portfolio")
        fan_outs = JobExecution.objects.filter(job="allocations.rebalance_all_portfolios", finished_at__isnull=False)
        all_written = None
        while True:
            written = scheduled.count()
            if written >= args.portfolios and all_written is None:
                all_written = time.perf_counter() - started
            if fan_outs.count() == 2:
                fanned = sum(e.summary["due"] for e in fan_outs)
                if children.filter(finished_at__isnull=False).count() >= fanned and all_written is not None:
                    break
            if time.perf_counter() - started > args.timeout:
                print(f"timed out: {written} of {args.portfolios} runs written")
                return 1
            time.sleep(0.2)
        all_done = time.perf_counter() - started
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        log.close()
        sender.close()

    per_portfolio = scheduled.values("portfolio_id").distinct().count()
    twice = scheduled.count() - per_portfolio
    statuses = {s: scheduled.filter(status=s).count() for s in scheduled.values_list("status", flat=True).distinct()}
    outcomes: dict[str, int] = {}
    seconds = []
    for summary, start, end in children.values_list("summary", "started_at", "finished_at"):
        outcomes[summary.get("outcome", "?")] = outcomes.get(summary.get("outcome", "?"), 0) + 1
        if summary.get("outcome") == "applied":
            seconds.append((end - start).total_seconds())
    print(
        f"daily job: {args.portfolios} portfolios x {args.strategies} strategies x {args.days} days, "
        f"PostgreSQL + Redis, one worker with {args.concurrency} processes, sent twice"
    )
    print(
        f"  all {per_portfolio} scheduled runs written in {all_written:.1f} s wall "
        f"({all_written / args.portfolios * 1000:.1f} ms per portfolio); every task ended after {all_done:.1f} s"
    )
    print(f"  runs by status: {statuses}; portfolios with two runs for the date: {twice}")
    print(
        f"  per-portfolio tasks: {outcomes}; one applied rebalance in a worker: median "
        f"{statistics.median(seconds) * 1000:.0f} ms, p95 {np.percentile(seconds, 95) * 1000:.0f} ms"
    )
    print(
        "  target (ARCHITECTURE.md §8): within 120 s, none twice ->",
        "met" if all_written <= 120 and twice == 0 and per_portfolio == args.portfolios else "NOT met",
    )
    return 0 if twice == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
