"""Django's PostgreSQL backend, with the connection health check made at most once a second, and
statements the server keeps prepared for the hottest reads.

Both save round trips and server CPU on the cached read of the current allocation, which makes only
two queries of its own (``bench/load.py``; why each holds: the methods' docstrings).
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
        """Django's health check, at most once per ``HEALTH_CHECK_INTERVAL``.

        With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every request,
        so a connection the database dropped (a restart, a network cut, an idle timeout) is replaced
        instead of failing the request; under load it was the round trip threads waited on longest. A
        connection checked less than a second ago is taken as alive; one idle for longer is checked as
        before. One that breaks within that second fails one request (503 with Retry-After,
        ``allocations.api.exceptions``); Django then drops it and the next request opens a new one.
        """
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

        Django sends every statement as text with its values merged in (client-side binding), so the
        server parses and plans it each time; for guardian's view-permission query the planning costs
        more than the execution (bench/README.md). This cursor binds on the server with psycopg's
        ``prepare=True``: planned once per connection, then only executed. Prepared statements live in
        a server session, which a pooler in transaction mode does not keep (PgBouncer before 1.21):
        there ``DATABASE_PREPARED_STATEMENTS=false`` turns them off (``capital_allocation.env``).

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
