"""Keeping a portfolio's returns snapshot (``ReturnsPanelSnapshot``) equal to its return rows.

The rows stay the source of truth. The ingestion service writes the snapshot in the transaction
that writes the rows (``returns_snapshot_merge``: new days appended, new strategies added,
corrections rewritten); any other write to the rows drops the snapshot (a database trigger), and
``returns_snapshot_check`` (``manage.py returns_snapshot``) compares a stored snapshot with the
rows and rebuilds it when they differ. Callers hold the portfolio lock, so two imports of one
portfolio never merge into the same old snapshot.
"""

from __future__ import annotations

import numpy as np

from allocations import db
from allocations.models import Portfolio
from allocations.panel_snapshot import PanelSnapshot, snapshot_encode
from allocations.selectors.panels import returns_snapshot_from_rows, returns_snapshot_get


def _store(portfolio_id: int, snapshot: PanelSnapshot) -> None:
    db.returns_snapshot_store(portfolio_id, snapshot_encode(snapshot))


def returns_snapshot_rebuild(*, portfolio: Portfolio) -> PanelSnapshot:
    """Build the snapshot from the rows and store it."""
    snapshot = returns_snapshot_from_rows(portfolio_id=portfolio.pk)
    _store(portfolio.pk, snapshot)
    return snapshot


def returns_snapshot_merge(
    *,
    portfolio: Portfolio,
    before: PanelSnapshot | None,
    strategy_ids: np.ndarray,
    days: np.ndarray,
    values: np.ndarray,
) -> PanelSnapshot:
    """Store ``before`` (the snapshot read before the rows were written) with the returns just
    upserted, ``(strategy_ids[k], days[k]) -> values[k]`` (day ordinals); without ``before``,
    rebuild from the rows (which already hold the new returns).

    The panel grows by the new dates and strategies (each placed in order; the old block is copied
    once) and the given cells are overwritten, so a correction replaces its value in place.
    """
    if before is None:
        return returns_snapshot_rebuild(portfolio=portfolio)
    strategy_ids = np.asarray(strategy_ids, dtype=np.int64)
    days = np.asarray(days, dtype=np.int64)
    ids = np.union1d(before.ids, strategy_ids)
    all_days = np.union1d(before.days, days)
    if ids.size == before.ids.size and all_days.size == before.days.size:
        panel = before.values.copy()
    else:
        panel = np.full((all_days.size, ids.size), np.nan)
        panel[np.ix_(np.searchsorted(all_days, before.days), np.searchsorted(ids, before.ids))] = before.values
    panel[np.searchsorted(all_days, days), np.searchsorted(ids, strategy_ids)] = np.asarray(values, dtype=float)
    snapshot = PanelSnapshot(ids=ids, days=all_days, values=panel)
    _store(portfolio.pk, snapshot)
    return snapshot


def _same(a: PanelSnapshot, b: PanelSnapshot) -> bool:
    """Bit for bit (NaN equal to NaN): what the panel loader would read from each is the same."""
    return (
        np.array_equal(a.ids, b.ids)
        and np.array_equal(a.days, b.days)
        and a.values.shape == b.values.shape
        and np.ascontiguousarray(a.values).tobytes() == np.ascontiguousarray(b.values).tobytes()
    )


def returns_snapshot_check(*, portfolio: Portfolio, repair: bool = True) -> str:
    """Compare the stored snapshot with the rows: "equal", "missing" or "differs" (then rebuilt if ``repair``).

    A missing snapshot is built too (with ``repair``): the loader reads the rows until then.
    """
    stored = returns_snapshot_get(portfolio_id=portfolio.pk)
    rows = returns_snapshot_from_rows(portfolio_id=portfolio.pk)
    if stored is not None and _same(stored, rows):
        return "equal"
    if repair:
        _store(portfolio.pk, rows)
    return "missing" if stored is None else "differs"
