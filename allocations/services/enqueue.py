"""Queue a Celery task once the surrounding transaction has committed, and never fail the write for it.

A service enqueues by task name (it does not import ``allocations.tasks``, which sits above it).
When the broker cannot take the message (Redis down), the write stands and the periodic sweep
that beat runs picks the work up from the database later: the message is a hint, the row is
the truth.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args) -> None:
    """Send ``task_name(*args)`` after the current transaction commits (at once outside one)."""

    def send() -> None:
        try:
            current_app.signature(task_name, args=args).apply_async(retry=False)
        except Exception as exc:  # noqa: BLE001 - a broker that is down must not undo a committed write
            logger.warning("could not enqueue %s%r (%s); the periodic sweep will pick it up", task_name, args, exc)

    transaction.on_commit(send)
