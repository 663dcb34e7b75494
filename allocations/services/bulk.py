"""Inserting many rows fast: PostgreSQL's COPY FROM STDIN, ``bulk_create`` elsewhere.

Django's ``bulk_create`` spends most of a second building the SQL for 1,000 wide rows; COPY
streams them in a few milliseconds. Rows are plain values (no model instances): this path is
for the hot writes of a rebalance (run lines, fund changes' audit rows).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, models


def _column_value(field: models.Field, value):
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.dumps(value)
    return value


def bulk_insert(model: type[models.Model], rows: Sequence[dict]) -> None:
    """Insert ``rows`` (dicts of attribute name -> value, e.g. ``strategy_id``) into ``model``'s table."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
        return
    names = list(rows[0])
    fields = [model._meta.get_field(name[:-3] if name.endswith("_id") and name != "id" else name) for name in names]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_column_value(f, row[name]) for f, name in zip(fields, names, strict=True)])
