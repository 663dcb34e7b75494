"""The one seam between the domain and the database's fast paths.

Services and selectors call ``db.<operation>(...)``; each operation runs its PostgreSQL half
(``postgresql.py``: COPY, columns packed as binary, one-statement updates) on PostgreSQL and its
portable twin (``portable.py``: the ORM) elsewhere. Both halves share a signature and an answer
(tests/allocations/db/test_contract.py), and this module is the only place that asks which
database it is talking to. Which fast paths stay, and what each gains, is in bench/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from types import ModuleType

import numpy as np
from django.db import connection, models
from django.utils import timezone

from allocations.audit_canonical import ChainStart
from allocations.panel_snapshot import PanelSnapshot

from . import portable
from .prepared import prepared_query  # noqa: F401  (the seam's operation: a query compiled once per connection)


def vendor() -> str:
    """The database the connection talks to: ``postgresql``, ``sqlite``, ..."""
    return connection.vendor


def fast() -> bool:
    """Whether the fast halves run: the connection is PostgreSQL's."""
    return vendor() == "postgresql"


def ping() -> None:
    """One round trip to the database (``/health/``'s probe); raises what the connection raises."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _half() -> ModuleType:
    if fast():
        from . import postgresql  # psycopg is imported only where it runs

        return postgresql
    return portable


def bulk_insert(model: type[models.Model], rows: Sequence[dict]) -> None:
    """Insert ``rows`` (attribute name -> value, e.g. ``strategy_id``) into ``model``'s table."""
    _half().bulk_insert(model, rows)


def audit_rows_insert(records: Sequence, start: ChainStart) -> str:
    """Chain ``records`` onto ``start`` and insert them in list order (ids follow the chain); the last
    hash. The caller holds the chain's tail and moves its head."""
    return _half().audit_rows_insert(records, start)


def allocation_lines_insert(columns: dict[str, list]) -> None:
    """A run's lines, one list per column of ``portable.LINE_COLUMNS`` (``run``, ``strategy``: ids)."""
    _half().allocation_lines_insert(columns)


def fund_amounts_update(pairs: list[tuple[int, Decimal]], now: datetime) -> None:
    """Set each ``(strategy id, amount)``'s fund amount, ``updated_at = now``."""
    if pairs:
        _half().fund_amounts_update(pairs, now)


def row_lock(queryset: models.QuerySet, *, timeout_ms: int):
    """Lock the one row of ``queryset`` for the rest of the transaction and return it fresh; ``None``
    when another transaction held it longer than ``timeout_ms`` (PostgreSQL; SQLite queues writers
    at BEGIN and waits its own timeout)."""
    return _half().row_lock(queryset, timeout_ms=timeout_ms)


def returns_snapshot_store(portfolio_id: int, fields: dict[str, bytes]) -> None:
    """Replace the portfolio's ``ReturnsPanelSnapshot`` row (delete + insert: the rows' trigger may
    already have dropped it in this transaction)."""
    _half().returns_snapshot_store(portfolio_id, fields, timezone.now())


def returns_snapshot_get(*, portfolio_id: int | None, ids: np.ndarray | None = None) -> PanelSnapshot | None:
    """The stored snapshot of ``portfolio_id`` (or of the portfolio of ``ids``, if they all belong to
    one), in one fetch; None when there is none."""
    if portfolio_id is None and (ids is None or ids.size == 0):
        return None
    return _half().returns_snapshot_get(portfolio_id, ids)


def returns_rows_since(ids: list[int], since: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strategy id, day ordinal, value) of every return of ``ids`` since ``since``, as arrays."""
    return _half().returns_rows_since(ids, since)


def fund_amounts(portfolio_id: int) -> dict[int, Decimal]:
    """strategy id -> its fund, for every strategy of the portfolio that has one, by strategy id.

    The ORM's on every database: PostgreSQL's two comma-separated texts no longer paid
    (bench/db_paths.py: 1.6 against 1.8 ms at 1,000 funds, 14.1 against 12.5 ms at 10,000)."""
    return portable.fund_amounts(portfolio_id)


def momentum_of_run(run_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(strategy ids, momentum weights) of a run's lines that have one."""
    return _half().momentum_of_run(run_id)


def fund_changes(portfolio_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day ordinal in the active time zone, strategy id, new amount) of every fund change of the
    portfolio, in chain order, dated by when each took effect."""
    return _half().fund_changes(portfolio_id, timezone.get_current_timezone_name())
