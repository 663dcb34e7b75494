"""The Celery worker against a Redis of its own that is restarted under a running task (issue 21, item 13).

The worker must ride out the restart: its consumer reconnects, the unacknowledged message's restore
path (run on the connection loss and by the transport's restore timer, every ``unacked_restore_interval``)
must not kill it, and it takes the next task. The shared Redis is never touched: the test starts its own
``redis-server`` on a free port.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from tests.allocations.jobs_support import ROOT, celery_worker_command, celery_worker_env, wait_for

pytestmark = [pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of this test alone, on a free port, that can be stopped and started again on it."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis-server to answer")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash or an OOM kill would: no goodbye to the clients
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def worker(redis_server, tmp_path, monkeypatch):
    """``celery -A capital_allocation worker`` (with the slow test task) on the test's own Redis, and a sender."""
    queue = f"cae-restart-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = celery_worker_env(
        "capital_allocation.settings.test",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        broker_url=redis_server.url,
        queue=queue,
    )
    args = [*celery_worker_command(queue, 2), "-I", "tests.capital_allocation.slow_task"]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
        )
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would prefer it to ``broker=``
    sender = Celery("restart-test", broker=redis_server.url, set_as_current=False)
    sender.conf.task_default_queue = queue
    yield process, sender
    sender.close()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    print(log.read_text()[-6000:])  # shown when the test failed


def test_the_worker_rides_out_a_redis_restart_under_a_running_task(redis_server, worker, tmp_path):
    process, sender = worker
    first, second = tmp_path / "first", tmp_path / "second"
    sender.send_task("tests.slow_task", args=[5, str(first)])
    wait_for(Path(f"{first}.started").exists, timeout=60, what="the worker to start the task")

    redis_server.stop()
    time.sleep(1)
    redis_server.start()

    wait_for(first.exists, timeout=30, what="the running task to end")
    # past one run of the transport's restore timer, which reads the unacknowledged messages again
    time.sleep(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("unacked_restore_interval", 10) + 1)
    assert process.poll() is None, "the worker exited after the broker restart"
    sender.send_task("tests.slow_task", args=[0, str(second)])
    wait_for(second.exists, timeout=60, what="the worker to take a task after the restart")
    assert process.poll() is None
