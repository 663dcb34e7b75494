"""The portable halves of ``allocations.db``: the ORM, on every database Django supports.

Each function is the twin of the one of the same name in ``postgresql.py``, with its signature and
its answer; on SQLite they are the only path, on PostgreSQL the contract test checks the fast
halves against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import numpy as np
from django.db import connection, models
from django.db.models import FloatField
from django.db.models.functions import Cast, TruncDate

from allocations.audit_canonical import ChainStart, chained_rows
from allocations.models import AllocationLine, AuditEntry, Fund, ReturnsPanelSnapshot, Strategy, StrategyReturn
from allocations.models.audit import audit_effective_time
from allocations.panel_snapshot import PanelSnapshot, snapshot_decode

LINE_COLUMNS = (
    "run", "strategy", "current_weight", "base_weight", "signal_weight", "smoothed_weight", "target_weight",
    "target_amount", "momentum_weight", "risk_contribution", "binding_limit", "limit_excess", "flags",
)  # fmt: skip


def bulk_insert(model: type[models.Model], rows: Sequence[dict]) -> None:
    if rows:
        model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)


def audit_rows_insert(records: Sequence, start: ChainStart) -> str:
    rows, last_hash = chained_rows(records, start)
    bulk_insert(AuditEntry, rows)
    return last_hash


def allocation_lines_insert(columns: dict[str, list]) -> None:
    names = [f"{name}_id" if name in ("run", "strategy") else name for name in LINE_COLUMNS]
    values = [columns[name] for name in LINE_COLUMNS]
    bulk_insert(AllocationLine, [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)])


def fund_amounts_update(pairs: list[tuple[int, Decimal]], now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {Fund._meta.db_table} SET amount = %s, updated_at = %s WHERE strategy_id = %s",
            [(str(amount), now, strategy_id) for strategy_id, amount in pairs],
        )


def row_lock(queryset: models.QuerySet, *, timeout_ms: int):
    """SQLite takes its write lock at BEGIN (``transaction_mode=IMMEDIATE``) and waits its ``timeout``."""
    return queryset.select_for_update().get()


def returns_snapshot_store(portfolio_id: int, fields: dict[str, bytes], now: datetime) -> None:
    ReturnsPanelSnapshot.objects.filter(portfolio_id=portfolio_id).delete()
    ReturnsPanelSnapshot.objects.create(portfolio_id=portfolio_id, **fields)  # updated_at: auto_now


def returns_rows_since(ids: list[int], since: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = StrategyReturn.objects.filter(strategy_id__in=ids)
    if since is not None:
        rows = rows.filter(date__gte=since)
    records = list(rows.values_list("strategy_id", "date", "value"))
    if not records:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    strategy_ids, days, values = zip(*records, strict=True)
    return (
        np.fromiter(strategy_ids, dtype=np.int64, count=len(records)),
        np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(records)),
        np.fromiter(values, dtype=float, count=len(records)),
    )


def fund_amounts(portfolio_id: int) -> dict[int, Decimal]:
    funds = Fund.objects.filter(strategy__portfolio_id=portfolio_id).order_by("strategy_id")
    return dict(funds.values_list("strategy_id", "amount"))


def momentum_of_run(run_id: int) -> tuple[np.ndarray, np.ndarray]:
    stored = list(
        AllocationLine.objects.filter(run_id=run_id, momentum_weight__isnull=False).values_list(
            "strategy_id", "momentum_weight"
        )
    )
    return (
        np.fromiter((row[0] for row in stored), dtype=np.int64, count=len(stored)),
        np.fromiter((row[1] for row in stored), dtype=float, count=len(stored)),
    )


def fund_changes(portfolio_id: int, zone: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In the active time zone (the caller activates ``zone``: ``TruncDate`` uses it)."""
    entries = AuditEntry.objects.filter(
        portfolio_id=portfolio_id, kind=AuditEntry.Kind.FUND_CHANGE, strategy__isnull=False
    )
    rows = list(
        entries.annotate(
            day=TruncDate(audit_effective_time()),
            amount=Cast("new_amount", FloatField()),
        )
        .order_by("seq")
        .values_list("day", "strategy_id", "amount")
    )
    return (
        np.fromiter((r[0].toordinal() for r in rows), dtype=np.int64, count=len(rows)),
        np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        np.fromiter((r[2] or 0.0 for r in rows), dtype=float, count=len(rows)),
    )


def returns_snapshot_get(portfolio_id: int | None, ids: np.ndarray | None) -> PanelSnapshot | None:
    if portfolio_id is None:
        owners = set(Strategy.objects.filter(pk__in=ids.tolist()).values_list("portfolio_id", flat=True))
        if len(owners) != 1:
            return None
        portfolio_id = owners.pop()
    stored = ReturnsPanelSnapshot.objects.filter(portfolio_id=portfolio_id)
    row = stored.values_list("strategy_ids", "days", "values").first()
    return None if row is None else snapshot_decode(*row)
