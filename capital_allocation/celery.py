"""The Celery app, configured from Django settings (``CELERY_*``)."""

import logging
import os

from celery import Celery, bootsteps
from celery.signals import worker_init, worker_process_init

logger = logging.getLogger(__name__)

# A server or worker started without DJANGO_SETTINGS_MODULE gets the production settings (no insecure
# defaults); `make run` and the Procfile name the local settings explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capital_allocation.settings.production")


def _redis_channel_refuses_a_detached_restore() -> None:
    """Work around a kombu bug (5.7.0, the latest; the same symptom as celery/kombu#582 and #970) that killed
    the worker when Redis went away under a running task (tests/capital_allocation/test_celery.py).

    On the connection loss the consumer first ``collect()``s the connection: closing the default channel
    fails half-way (its BRPOP read raises ConnectionError, which is swallowed), and the transport is then
    detached from the connection (``transport.client = None``). The consumer's ``connection.close()`` closes
    that channel again; this time it gets as far as restoring its unacknowledged messages, which builds a
    new Redis pool from ``transport.client.hostname``: AttributeError, which no one catches, so the worker
    exits ("Unrecoverable error"). Here a channel whose transport is detached raises the connection error it
    is (caught by the close, the worker reconnects); the unacknowledged messages stay in Redis and come back
    after the visibility timeout, as after any worker crash. Remove when kombu fixes ``Channel.close``.
    """
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:  # pragma: no cover - the redis client is a dependency
        return
    original = kombu_redis.Channel._connparams
    if getattr(original, "detached_guard", False):
        return

    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError(
                "the broker connection is closed; its unacknowledged messages return after the visibility timeout"
            )
        return original(self, asynchronous=asynchronous)

    _connparams.detached_guard = True
    kombu_redis.Channel._connparams = _connparams


_redis_channel_refuses_a_detached_restore()

app = Celery("capital_allocation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _warm_and_freeze(**kwargs) -> None:
    """A worker (before it forks its pool, and each pool process after) starts with its startup objects
    out of the collector's sight (``capital_allocation.warmup``)."""
    from capital_allocation.warmup import warm_and_freeze

    warm_and_freeze()


class Heartbeat(bootsteps.StartStopStep):
    """The worker records that it is alive every ``WORKER_HEARTBEAT_SECONDS`` (a row per worker, read by
    ``/health/``), from its main process's timer: a worker that died, or hangs, stops writing it."""

    requires = {"celery.worker.components:Timer", "celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        from django.conf import settings

        self.beat(worker)
        self.tref = worker.timer.call_repeatedly(settings.WORKER_HEARTBEAT_SECONDS, self.beat, (worker,))

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def beat(self, worker) -> None:
        from django.db import close_old_connections

        from allocations.services.job_liveness import worker_heartbeat_record

        try:
            close_old_connections()  # a connection the database dropped is replaced, not reused
            worker_heartbeat_record(hostname=worker.hostname)
        except Exception:  # the database may be down: the next beat tries again, /health/ says so meanwhile
            logger.warning("worker heartbeat not recorded", exc_info=True)


app.steps["worker"].add(Heartbeat)
