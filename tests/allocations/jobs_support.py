"""Helpers of the job tests: small books with a policy and history, a local webhook receiver, a real worker."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from allocations.models import AllocationPolicy, Portfolio, StrategyReturn
from tests.factories import PortfolioFactory, SectorFactory, StrategyFactory

ROOT = Path(__file__).resolve().parents[2]


def book(
    slug: str,
    *,
    zone: str = "UTC",
    frequency: str = "daily",
    at: str = "16:00",
    strategies: int = 6,
    days: int = 60,
    seed: int = 1,
    until: dt.date | None = None,
    **policy,
) -> Portfolio:
    """A portfolio with ``strategies`` strategies in two sectors, ``days`` business days of returns up to
    ``until`` (default yesterday) and one policy version that applies any rebalance at once (no four eyes)."""
    portfolio = PortfolioFactory(slug=slug, name=slug.title(), timezone=zone, total_equity=Decimal("1000000.00"))
    sectors = [SectorFactory(code="tech"), SectorFactory(code="energy")]
    rows = [
        StrategyFactory(portfolio=portfolio, code=f"{slug}-{j:02d}", sector=sectors[j % 2]) for j in range(strategies)
    ]
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(
        np.datetime64(dt.date.today() - dt.timedelta(days=1), "D"), -np.arange(days), roll="backward"
    )
    values = rng.normal(0.0005, 0.01, size=(days, strategies)) * (1 + np.arange(strategies) / strategies)
    StrategyReturn.objects.bulk_create(
        StrategyReturn(strategy=s, date=dates[t].astype(dt.date), value=float(values[t, j]))
        for j, s in enumerate(rows)
        for t in range(days)
    )
    fields = {
        "method": "inverse_volatility",
        "approval_threshold": 2.0,
        "min_change_threshold": 0.0,
        "lookback_period": 30,
        "covariance_lookback": 30,
        "rebalance_frequency": frequency,
        "rebalance_time": at,
        **policy,
    }
    AllocationPolicy.objects.create(portfolio=portfolio, version=1, **fields)
    return portfolio


@contextmanager
def broker_down():
    """The Celery app pointed at a port where nothing listens (its cached connections set aside), then restored.

    Celery prefers the CELERY_BROKER_URL environment variable to its config: the caller removes it.
    """
    from capital_allocation.celery import app

    saved = app.conf.broker_url, app._pool, app.amqp._producer_pool
    app.conf.broker_url, app._pool, app.amqp._producer_pool = "redis://127.0.0.1:1/0", None, None
    try:
        yield
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app.conf.broker_url, app._pool, app.amqp._producer_pool = saved


# --- a local webhook receiver -------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers ``self.status`` (500 until told)."""

    def __init__(self, status: int = 500):
        self.status = status
        self.requests: list[dict] = []
        received = self.requests
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/orders"
        # polled every 20 ms (not 0.5 s): shutdown() waits for the next poll, at every test's teardown
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def signature_ok(secret: str, request: dict, *, now: float | None = None, tolerance: float = 300) -> bool:
    """The receiver's check of README's outbox section: HMAC of ``timestamp.body``, a fresh timestamp."""
    timestamp = request["headers"]["x-cae-timestamp"]
    message = timestamp.encode() + b"." + request["body"]
    expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    fresh = abs((time.time() if now is None else now) - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, request["headers"]["x-cae-signature"])


def event_of(request: dict) -> dict:
    return json.loads(request["body"])


# --- waiting and a real Celery worker ----------------------------------------------------------


def wait_for(predicate, *, timeout: float = 30.0, every: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def celery_worker_command(queue: str, concurrency: int) -> list[str]:
    """``celery -A capital_allocation worker`` with ``concurrency`` processes on ``queue`` alone, named
    ``<queue>@<host>`` so a ping can reach it; it gossips with, mingles with and beats for no other worker."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "capital_allocation",
        "worker",
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "-n",
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=WARNING",
    ]


def celery_worker_env(settings_module: str, *, database_url: str, broker_url: str, queue: str) -> dict[str, str]:
    """This process's environment with the worker's Django settings, database, broker and default queue."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }


class Worker:
    """``celery -A capital_allocation worker`` in its own process group, on the test database and a queue of its own."""

    def __init__(
        self,
        *,
        database_url: str,
        broker_url: str,
        queue: str,
        log: Path,
        concurrency: int = 2,
        env: dict | None = None,
    ):
        self.log = log
        self.args = celery_worker_command(queue, concurrency)
        self.env = {
            **celery_worker_env(
                "capital_allocation.settings.test", database_url=database_url, broker_url=broker_url, queue=queue
            ),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log, "ab") as out:  # a file, not a pipe: a chatty worker never blocks on it
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once (no warm shutdown, no acknowledgements)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
