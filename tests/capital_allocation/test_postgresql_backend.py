"""capital_allocation/postgresql: Django's backend, its connection health check at most once a second."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, connections

from capital_allocation.postgresql import base

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _request(checks: list) -> int:
    """What Django does around a request that makes one query: the start-of-request bookkeeping, a query."""
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.fixture
def checks(monkeypatch):
    made = []
    original = base.DatabaseWrapper.is_usable

    def counted(self):
        made.append(1)
        return original(self)

    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", counted)
    return made


def test_requests_within_the_interval_are_not_checked_again(checks):
    assert isinstance(connections["default"], base.DatabaseWrapper)
    _request(checks)  # checked if the connection sat idle for a second before
    checked = len(checks)
    for _ in range(5):
        _request(checks)
    assert len(checks) == checked  # then not again: it answered less than a second ago


def test_a_connection_idle_past_the_interval_is_checked_and_a_dead_one_replaced(checks, monkeypatch):
    first = _request(checks)
    monkeypatch.setattr(base, "HEALTH_CHECK_INTERVAL", 0.0)
    with psycopg.connect(
        **{k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}, autocommit=True
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    second = _request(checks)  # checked, found dead, replaced: the request still gets its answer
    assert len(checks) == 1 and second != first
    _request(checks)
    assert len(checks) == 2  # checked every time with no interval


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_prepared_cursor_prepares_its_statement_once_and_other_cursors_never():
    connection.ensure_connection()
    before = _prepared_names()
    with connection.cursor() as cursor:  # Django's own: bound on the client, never prepared
        for _ in range(10):
            cursor.execute("SELECT %s::int + 1", [1])
    assert _prepared_names() == before
    answers = []
    for value in (1, 2, 3):
        with connection.prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int + 41", [value])
            answers.append(cursor.fetchone()[0])
    assert answers == [42, 43, 44]
    added = _prepared_names() - before
    assert len(added) == 1  # one statement on the server, run three times with other values
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements WHERE name = %s",
            [added.pop()],
        )
        statement, plans = cursor.fetchone()
    assert "+ 41" in statement and plans == 3


def test_prepared_statements_turned_off_give_djangos_cursor(monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    before = _prepared_names()
    with connection.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int * 2", [21])
        assert cursor.fetchone()[0] == 42
    assert _prepared_names() == before


def test_a_replaced_connection_prepares_again():
    with connection.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int - 1", [1])
    connection.close()
    with connection.prepared_cursor() as cursor:  # a new session: psycopg's names start afresh
        cursor.execute("SELECT %s::int - 1", [5])
        assert cursor.fetchone()[0] == 4
