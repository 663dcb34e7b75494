"""A query compiled to SQL once per connection and run again: the hot reads of the current allocation.

On PostgreSQL the statement is also prepared on the server (the backend's ``prepared_cursor``,
``capital_allocation.postgresql``: planning the permission query cost more than running it);
elsewhere it runs on a cursor as any other.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

_PREPARED_LIMIT = 4096


class _Prepared:
    """A values query compiled to SQL once, run again (with other parameters of the same shape if
    given), its rows converted as the ORM converts them (the compiler's converters)."""

    def __init__(self, queryset, wrapper):
        self.compiler = compiler = queryset.query.get_compiler(connection=wrapper)
        self.sql, self.params = compiler.as_sql()
        self.converters = compiler.get_converters([column for column, *_ in compiler.select[: compiler.col_count]])

    def rows(self, params: list | None = None) -> list[tuple]:
        wrapper = self.compiler.connection
        # On PostgreSQL the server keeps the statement prepared on this connection (planning the
        # permission query cost more than running it); elsewhere a cursor as any other.
        cursor_for = getattr(wrapper, "prepared_cursor", wrapper.cursor)
        with cursor_for() as cursor:
            cursor.execute(self.sql, self.params if params is None else params)
            fetched = cursor.fetchall()
        if not self.converters:
            return [tuple(row) for row in fetched]
        return [tuple(row) for row in self.compiler.apply_converters(fetched, self.converters)]


def prepared_query(key: tuple, make) -> _Prepared:
    """The query ``make()`` (a queryset) prepared once per thread's connection (bounded), under ``key``."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    store = wrapper.__dict__.setdefault("_cae_prepared", {})
    found = store.get(key)
    if found is None:
        if len(store) >= _PREPARED_LIMIT:
            store.clear()
        found = store[key] = _Prepared(make(), wrapper)
    return found
