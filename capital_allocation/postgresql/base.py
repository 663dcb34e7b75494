"""Django's PostgreSQL backend, with the connection health check made at most once a second.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every request, so a
connection the database dropped (a restart, a network cut, an idle timeout) is replaced instead of
failing the request. A cached read of the current allocation makes two queries of its own: the
check was a third round trip, and under load (``bench/load.py``) the one threads waited on longest.
Here a connection checked less than ``HEALTH_CHECK_INTERVAL`` seconds ago is taken as alive; one idle
for longer is checked as before. A connection that breaks within that second fails one request (503
with Retry-After, see ``allocations.api.exceptions``); Django then drops it, and the next request
opens a new one.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_INTERVAL = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    _health_checked_at = float("-inf")

    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        now = time.monotonic()
        if now - self._health_checked_at < HEALTH_CHECK_INTERVAL:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
        if self.connection is not None:
            self._health_checked_at = now

    def connect(self):
        super().connect()
        self._health_checked_at = time.monotonic()  # a new connection has just answered
