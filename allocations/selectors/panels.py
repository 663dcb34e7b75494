"""The rows a rebalance (and every measure of a book) turns into arrays.

``returns_panel`` is the one loader of the returns panel: a dense (T x N) float matrix with NaN
where a strategy has no return that day, its columns in the order of the strategy ids asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection

from allocations.models import AllocationLine, AllocationRun, Fund, Portfolio, SectorSignal, Strategy, StrategyReturn

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass
class Universe:
    """The strategies a run allocates among, in column order of every array (ids ascending)."""

    ids: np.ndarray  # (N,) strategy ids, ascending
    codes: list[str]
    sectors: list[str]  # sector codes
    budgets: np.ndarray  # (N,) risk budgets
    paused: np.ndarray  # (N,) bool: held where they are

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


def returns_panel(
    *, ids: np.ndarray, window: int | None = None, since: date | None = None, today: date | None = None
) -> tuple[list[date], np.ndarray]:
    """The returns of the strategies ``ids`` (ascending) as ``(dates, panel)``, panel (T x N).

    With ``window``: the last ``window`` dates on which any of them has a return. With ``since``:
    every such date from ``since`` on. In the usual case one query suffices: a calendar span
    that holds ``window`` business days (with room for holidays) before ``today`` is fetched
    and the last ``window`` dates found are kept; only when the data is sparser or older is the
    window's first date asked for and the rows fetched again.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and np.any(np.diff(ids) <= 0):
        raise ValueError("returns_panel: strategy ids must be strictly ascending")
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
    dates, panel = returns_panel(ids=universe.ids, window=window, today=today)
    if panel.size:
        panel[:, universe.paused] = np.nan
    return dates, panel


def _rows_since(ids: list[int], since: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strategy id, day ordinal, value) of every return of ``ids`` since ``since``, as arrays."""
    if connection.vendor == "postgresql":
        return _rows_since_postgres(ids, since)
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


def _rows_since_postgres(ids: list[int], since: date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PostgreSQL packs each column into one bytea of big-endian binary values (``int8send``,
    ``int4send``, ``float8send``), so 250,000 returns cross the wire as one row that numpy reads
    in place; fetching them as rows costs most of a second in Python objects alone."""
    table = StrategyReturn._meta.db_table
    sql = (
        "SELECT string_agg(int8send(strategy_id), ''::bytea), "
        "string_agg(int4send((date - DATE '1970-01-01')::integer), ''::bytea), "
        "string_agg(float8send(value), ''::bytea) "
        f"FROM {table} WHERE strategy_id = ANY(%s) AND date >= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, since or date(1, 1, 1)])
        packed_ids, packed_days, packed_values = cursor.fetchone()
    if packed_ids is None:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return (
        np.frombuffer(packed_ids, dtype=">i8").astype(np.int64),
        np.frombuffer(packed_days, dtype=">i4").astype(np.int64) + EPOCH_ORDINAL,
        np.frombuffer(packed_values, dtype=">f8").astype(float),
    )


def fund_amounts(*, portfolio: Portfolio) -> dict[int, Decimal]:
    """strategy id -> its fund, for every strategy of the portfolio that has one."""
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy_id", "amount"))


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
    run = (
        AllocationRun.objects.filter(portfolio=portfolio, status=AllocationRun.Status.APPLIED)
        .order_by("-created_at", "-id")
        .first()
    )
    if run is None:
        return None
    stored = dict(
        AllocationLine.objects.filter(run=run, momentum_weight__isnull=False).values_list(
            "strategy_id", "momentum_weight"
        )
    )
    if not stored:
        return None
    return np.array([stored.get(int(i), np.nan) for i in universe.ids], dtype=float)
