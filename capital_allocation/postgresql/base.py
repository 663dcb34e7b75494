"""Django's PostgreSQL backend, with the connection health check made at most once a second, and
statements the server keeps prepared for the hottest reads.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every request, so a
connection the database dropped (a restart, a network cut, an idle timeout) is replaced instead of
failing the request. A cached read of the current allocation makes two queries of its own: the
check was a third round trip, and under load (``bench/load.py``) the one threads waited on longest.
Here a connection checked less than ``HEALTH_CHECK_INTERVAL`` seconds ago is taken as alive; one idle
for longer is checked as before. A connection that breaks within that second fails one request (503
with Retry-After, see ``allocations.api.exceptions``); Django then drops it, and the next request
opens a new one.

Django sends every statement as text with its values merged in (client-side binding), so the server
parses and plans it each time; for the view-permission query of a read (guardian's subqueries) the
planning costs more than the execution (bench/README.md, *Why these choices*). ``prepared_cursor()`` gives a
cursor that binds values on the server and keeps each statement prepared on its connection (psycopg's
``prepare=True``): parsed and planned once per connection, then only executed. Every other cursor is
Django's own, never prepared. Prepared statements live in a server session, which a connection pooler
in transaction mode does not keep (PgBouncer before 1.21): there, ``DATABASE_PREPARED_STATEMENTS=false``
turns them off (``capital_allocation.env``), and ``prepared_cursor()`` gives Django's cursor.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_INTERVAL = 1.0


class PreparedStatementCursor(base.ServerBindingCursor):
    """Django's server-side-binding cursor whose every statement is prepared on its connection."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


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

    def prepared_cursor(self):
        """A cursor (Django's wrapper: debug capture and execute wrappers apply) whose statements the
        server keeps prepared, or Django's own cursor where prepared statements are turned off.

        psycopg prepares a statement only when the connection's ``prepare_threshold`` is set: Django
        leaves it None unless ``OPTIONS`` name it, and ``env_database`` does (``DATABASE_PREPARED_STATEMENTS``).
        Django's own cursors bind on the client and are never prepared, whatever the threshold.
        """
        self.close_if_health_check_failed()
        self.ensure_connection()
        if self.connection.prepare_threshold is None:
            return self.cursor()
        with self.wrap_database_errors:
            return self._prepare_cursor(PreparedStatementCursor(self.connection))
