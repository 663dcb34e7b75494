"""gunicorn's settings for the web processes (``make serve``, the Dockerfile, compose.yaml).

Read from the environment through ``capital_allocation.env`` like every other setting:
``WEB_CONCURRENCY`` worker processes (default 2, one per core here), ``WEB_THREADS`` threads each
(default 2: gthread workers; 1 makes them sync workers), ``WEB_BIND`` (default ``127.0.0.1:8000``;
``0.0.0.0:8000`` in a container), ``WEB_TIMEOUT`` seconds before a stuck worker is replaced (default 30).

Two threads per process: a rebalance POST (a CPU-bound 150-250 ms) no longer holds every read queued
behind it on its process, and clients keep their connections (``keepalive``; a sync worker closes
each). Measured with ``bench/load.py`` on 2 cores (docs/runbook.md, *Load*): the same requests/s as
sync workers or more, a shorter p99; four threads did no better (one interpreter lock per process).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capital_allocation.env import env_int, env_str  # noqa: E402

wsgi_app = "capital_allocation.wsgi:application"
bind = [env_str("WEB_BIND", "127.0.0.1:8000")]
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
threads = env_int("WEB_THREADS", 2, minimum=1)
timeout = env_int("WEB_TIMEOUT", 30, minimum=1)
graceful_timeout = 30
keepalive = 5
# A busy process exits after this many requests (plus jitter) and is replaced: bounds slow leaks.
max_requests = env_int("WEB_MAX_REQUESTS", 0, minimum=0)
max_requests_jitter = max_requests // 10
# The application writes one JSON line per request (with its request id); gunicorn's own access log
# would repeat it without the context. gunicorn's error log is JSON lines too.
# gunicorn 27's control socket sits at one path per user ($HOME/.gunicorn): two servers on a machine would
# share it, and a non-root user may have no writable home. Signals (HUP reload, TERM stop) are enough.
control_socket_disable = True
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "capital_allocation.logs.JsonLineFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["console"], "level": "INFO"},
}


def child_exit(server, worker):
    """A worker that exits leaves its samples to /metrics as dead-process totals (prometheus_client)."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
