"""The rows a rebalance (and every measure of a book) turns into arrays.

``returns_panel`` is the one loader of the returns panel: a dense (T x N) float matrix with NaN
where a strategy has no return that day, its columns in the order of the strategy ids asked for.
It reads the portfolio's ``ReturnsPanelSnapshot`` (one row, one fetch, no per-row work) and the
return rows only where no snapshot is stored (a write outside the ingestion service drops it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np

from allocations import db
from allocations.models import AllocationRun, Portfolio, SectorSignal, Strategy, StrategyReturn
from allocations.panel_snapshot import PanelSnapshot


@dataclass
class Universe:
    """The strategies a run allocates among, in column order of every array (ids ascending)."""

    ids: np.ndarray  # (N,) strategy ids, ascending
    codes: list[str]
    sectors: list[str]  # sector codes
    budgets: np.ndarray  # (N,) risk budgets
    paused: np.ndarray  # (N,) bool: held where they are
    portfolio_id: int | None = None

    def __len__(self) -> int:
        return len(self.codes)


def universe_load(*, portfolio: Portfolio) -> Universe:
    """Active and paused strategies; paused ones get no returns, so the engine holds them."""
    rows = list(
        Strategy.objects.filter(portfolio=portfolio)
        .exclude(status=Strategy.Status.RETIRED)
        .order_by("id")
        .values_list("id", "code", "sector__code", "risk_budget", "status")
    )
    return Universe(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        codes=[r[1] for r in rows],
        sectors=[r[2] for r in rows],
        budgets=np.array([r[3] for r in rows], dtype=float),
        paused=np.array([r[4] == Strategy.Status.PAUSED for r in rows], dtype=bool),
        portfolio_id=portfolio.pk,
    )


def window_start(*, ids: list[int], window: int) -> date | None:
    """The first of the last ``window`` dates with a return of any of ``ids``; None without returns."""
    dates = list(
        StrategyReturn.objects.filter(strategy_id__in=ids)
        .values_list("date", flat=True)
        .distinct()
        .order_by("-date")[:window]
    )
    return dates[-1] if dates else None


def returns_snapshot_get(*, portfolio_id: int | None, ids: np.ndarray | None = None) -> PanelSnapshot | None:
    """The stored snapshot of ``portfolio_id`` (or of the portfolio of ``ids``, if they all belong to
    one), in one fetch; None when there is none."""
    return db.returns_snapshot_get(portfolio_id=portfolio_id, ids=ids)


def _panel_from_snapshot(
    snapshot: PanelSnapshot, ids: np.ndarray, window: int | None, since: date | None
) -> tuple[list[date], np.ndarray]:
    """The rows path's answer, from the snapshot: same dates, same bits (the values are the rows' float8)."""
    values = snapshot.values
    if not (ids.size == snapshot.ids.size and np.array_equal(ids, snapshot.ids)):
        at = np.minimum(np.searchsorted(snapshot.ids, ids), max(snapshot.ids.size - 1, 0))
        present = snapshot.ids[at] == ids if snapshot.ids.size else np.zeros(ids.size, dtype=bool)
        values = np.full((snapshot.days.size, ids.size), np.nan)
        values[:, present] = snapshot.values[:, at[present]]
    keep = ~np.isnan(values).all(axis=1)
    if since is not None:
        keep &= snapshot.days >= since.toordinal()
    rows = np.flatnonzero(keep)
    if window is not None:
        rows = rows[-window:]
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        panel = values[rows[0] : rows[-1] + 1].copy()  # the usual case: a contiguous block of days
    else:
        panel = values[rows]
    return [date.fromordinal(int(d)) for d in snapshot.days[rows]], panel


def returns_panel(
    *,
    ids: np.ndarray,
    window: int | None = None,
    since: date | None = None,
    today: date | None = None,
    portfolio_id: int | None = None,
) -> tuple[list[date], np.ndarray]:
    """The returns of the strategies ``ids`` (ascending) as ``(dates, panel)``, panel (T x N).

    With ``window``: the last ``window`` dates on which any of them has a return. With ``since``:
    every such date from ``since`` on. Read from the portfolio's snapshot (``portfolio_id``, or
    the portfolio all of ``ids`` belong to) when one is stored. Otherwise from the rows: in the
    usual case one query suffices: a calendar span that holds ``window`` business days (with room
    for holidays) before ``today`` is fetched and the last ``window`` dates found are kept; only
    when the data is sparser or older is the window's first date asked for and the rows fetched again.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and np.any(np.diff(ids) <= 0):
        raise ValueError("returns_panel: strategy ids must be strictly ascending")
    if ids.size == 0:
        return [], np.empty((0, 0))
    snapshot = returns_snapshot_get(portfolio_id=portfolio_id, ids=ids)
    if snapshot is not None:
        return _panel_from_snapshot(snapshot, ids, window, since)
    return returns_panel_from_rows(ids=ids, window=window, since=since, today=today)


def returns_panel_from_rows(
    *, ids: np.ndarray, window: int | None = None, since: date | None = None, today: date | None = None
) -> tuple[list[date], np.ndarray]:
    """``returns_panel`` read from the return rows (the source of truth), never from the snapshot."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0:
        return [], np.empty((0, 0))
    id_list = ids.tolist()
    if window is None:
        strategy_ids, days, values = _rows_since(id_list, since)
    else:
        guess = (today or date.today()) - timedelta(days=window * 7 // 5 + 21)
        start = guess if since is None else max(guess, since)
        strategy_ids, days, values = _rows_since(id_list, start)
        if np.unique(days).size < window:
            first = window_start(ids=id_list, window=window)
            if first is not None and since is not None:
                first = max(first, since)
            if first is not None and first < start:
                strategy_ids, days, values = _rows_since(id_list, first)
    found = np.unique(days)
    if window is not None:
        found = found[-window:]
    panel = np.full((found.size, ids.size), np.nan)
    if found.size:
        keep = days >= found[0]
        panel[np.searchsorted(found, days[keep]), np.searchsorted(ids, strategy_ids[keep])] = values[keep]
    return [date.fromordinal(int(d)) for d in found], panel


def universe_panel(*, universe: Universe, window: int, today: date) -> tuple[list[date], np.ndarray]:
    """The run's panel: the last ``window`` dates; paused strategies' columns are all NaN (held)."""
    dates, panel = returns_panel(ids=universe.ids, window=window, today=today, portfolio_id=universe.portfolio_id)
    if panel.size:
        panel[:, universe.paused] = np.nan
    return dates, panel


def returns_snapshot_from_rows(*, portfolio_id: int) -> PanelSnapshot:
    """The snapshot the rows of every strategy of the portfolio (retired ones too) make."""
    all_ids = list(Strategy.objects.filter(portfolio_id=portfolio_id).order_by("id").values_list("id", flat=True))
    if not all_ids:
        return PanelSnapshot(ids=np.empty(0, np.int64), days=np.empty(0, np.int64), values=np.empty((0, 0)))
    strategy_ids, days, values = _rows_since(all_ids, None)
    ids, found = np.unique(strategy_ids), np.unique(days)
    panel = np.full((found.size, ids.size), np.nan)
    if found.size:
        panel[np.searchsorted(found, days), np.searchsorted(ids, strategy_ids)] = values
    return PanelSnapshot(ids=ids, days=found, values=panel)


def _rows_since(ids: list[int], since: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strategy id, day ordinal, value) of every return of ``ids`` since ``since``, as arrays."""
    return db.returns_rows_since(ids, since)


def fund_amounts(*, portfolio: Portfolio) -> dict[int, Decimal]:
    """strategy id -> its fund, for every strategy of the portfolio that has one, by strategy id."""
    return db.fund_amounts(portfolio.pk)


def latest_signals(*, portfolio: Portfolio, since: datetime) -> dict[str, dict]:
    """The latest signal of each sector since ``since``: sector code -> signal."""
    latest: dict[str, dict] = {}
    for code, action, confidence, as_of in (
        SectorSignal.objects.filter(portfolio=portfolio, as_of__gte=since)
        .order_by("as_of", "id")
        .values_list("sector__code", "action", "confidence", "as_of")
    ):
        latest[code] = {"sector": code, "action": action, "confidence": confidence, "as_of": as_of.isoformat()}
    return latest


def previous_momentum(*, portfolio: Portfolio, universe: Universe) -> np.ndarray | None:
    """The momentum weights of the portfolio's last applied run, NaN for strategies not in it."""
    run_id = (
        AllocationRun.objects.filter(portfolio=portfolio, status=AllocationRun.Status.APPLIED)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)  # not the run row: its explanation is megabytes of JSON at 10,000
        .first()
    )
    if run_id is None:
        return None
    ids, weights = db.momentum_of_run(run_id)
    if not ids.size:
        return None
    order = np.argsort(ids)
    ids, weights = ids[order], weights[order]
    at = np.minimum(np.searchsorted(ids, universe.ids), ids.size - 1)
    return np.where(ids[at] == universe.ids, weights[at], np.nan)
