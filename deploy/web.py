"""The web server (``make serve``, the Dockerfile, compose.yaml): granian serving Django's WSGI application.

granian parses HTTP and handles connections in Rust; the application runs in ``WEB_THREADS`` Python
threads in each of ``WEB_CONCURRENCY`` worker processes; against gunicorn's gthread workers it serves
more reads at a lower p99 on less CPU (bench/README.md). ``TERM`` or ``INT`` to the main process stops
it (requests in flight finish), ``HUP`` replaces the workers one by one (new code after an upgrade).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from capital_allocation.env import env_int, env_str  # noqa: E402

APPLICATION = "capital_allocation.wsgi:application"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "capital_allocation.logs.JsonLineFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {
        "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}


def bind_address(raw: str) -> tuple[str, int]:
    """``WEB_BIND`` (``host:port``, ``[v6]:port``) as granian's address and port."""
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"WEB_BIND: expected host:port, got {raw!r}")
    return host.strip("[]"), int(port)


def server_options() -> dict:
    """granian's options from the environment (``capital_allocation.env``, like every other setting):

    ``WEB_BIND`` (``host:port``, default ``127.0.0.1:8000``), ``WEB_CONCURRENCY`` (worker processes,
    default 2; a worker that dies is replaced), ``WEB_THREADS`` (default 2: a rebalance POST, CPU-bound
    for 150-250 ms, does not hold every read of its process behind it), ``WEB_TIMEOUT`` (seconds a
    stopping worker has for its requests in flight, default 30), ``WEB_MAX_RSS_MB`` (a worker above it
    is replaced, default 0: never). The application writes one JSON line per request with its id, so
    granian's access log (which would repeat it without the context) is off; its own lines are JSON.
    """
    address, port = bind_address(env_str("WEB_BIND", "127.0.0.1:8000"))
    max_rss = env_int("WEB_MAX_RSS_MB", 0, minimum=0)
    return {
        "address": address,
        "port": port,
        "workers": env_int("WEB_CONCURRENCY", 2, minimum=1),
        "blocking_threads": env_int("WEB_THREADS", 2, minimum=1),
        "workers_kill_timeout": env_int("WEB_TIMEOUT", 30, minimum=1),
        "workers_max_rss": max_rss or None,
        "respawn_failed_workers": True,
        "working_dir": ROOT,
        "log_dictconfig": LOGGING,
        "log_access": False,
        "websockets": False,
    }


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(APPLICATION, interface=Interfaces.WSGI, **server_options()).serve()


if __name__ == "__main__":
    main()
