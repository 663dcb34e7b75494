"""The rows a rebalance (and every measure of a book) turns into arrays.

``returns_panel`` is the one loader of the returns panel: a dense (T x N) float matrix with NaN
where a strategy has no return that day, its columns in the order of the strategy ids asked for.
It reads the portfolio's ``ReturnsPanelSnapshot`` (one row, one fetch, no per-row work) and the
return rows only where no snapshot is stored (a write outside the ingestion service drops it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection

try:
    import psycopg
except ImportError:  # pragma: no cover - SQLite-only installs
    psycopg = None

from allocations.models import (
    AllocationLine,
    AllocationRun,
    Fund,
    Portfolio,
    ReturnsPanelSnapshot,
    SectorSignal,
    Strategy,
    StrategyReturn,
)

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


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


@dataclass(frozen=True)
class PanelSnapshot:
    """A portfolio's stored returns panel: every strategy with a return, every date with one."""

    ids: np.ndarray  # (N,) int64 strategy ids, ascending
    days: np.ndarray  # (T,) int64 day ordinals (``date.toordinal()``), ascending
    values: np.ndarray  # (T x N) float64, NaN where no return (read-only when decoded from the row)


def snapshot_decode(strategy_ids: bytes, days: bytes, values: bytes) -> PanelSnapshot:
    """The arrays of a ``ReturnsPanelSnapshot`` row, read in place (no copy)."""
    ids = np.frombuffer(strategy_ids, dtype="<i8")
    ordinals = np.frombuffer(days, dtype="<i4").astype(np.int64) + EPOCH_ORDINAL
    return PanelSnapshot(ids=ids, days=ordinals, values=np.frombuffer(values, dtype="<f8").reshape(ordinals.size, -1))


def snapshot_encode(snapshot: PanelSnapshot) -> dict[str, bytes]:
    """The ``ReturnsPanelSnapshot`` field values of ``snapshot``."""
    return {
        "strategy_ids": np.ascontiguousarray(snapshot.ids, dtype="<i8").tobytes(),
        "days": np.ascontiguousarray(snapshot.days - EPOCH_ORDINAL, dtype="<i4").tobytes(),
        "values": np.ascontiguousarray(snapshot.values, dtype="<f8").tobytes(),
    }


def returns_snapshot_get(*, portfolio_id: int | None, ids: np.ndarray | None = None) -> PanelSnapshot | None:
    """The stored snapshot of ``portfolio_id`` (or of the portfolio of ``ids``, if they all belong to
    one), in one fetch; None when there is none."""
    if portfolio_id is None and (ids is None or ids.size == 0):
        return None
    if connection.vendor == "postgresql":
        return _snapshot_get_postgres(portfolio_id, ids)
    if portfolio_id is None:
        owners = set(Strategy.objects.filter(pk__in=ids.tolist()).values_list("portfolio_id", flat=True))
        if len(owners) != 1:
            return None
        portfolio_id = owners.pop()
    stored = ReturnsPanelSnapshot.objects.filter(portfolio_id=portfolio_id)
    row = stored.values_list("strategy_ids", "days", "values").first()
    return None if row is None else snapshot_decode(*row)


class _SnapshotCache:
    """The snapshots this process read last, each under its row's version (``xmin``, which every write
    of the row changes, and ``updated_at``). A read asks the database for the version first and fetches
    the row only when it differs from the one kept: 2 MB at 1,000 strategies x 252 days took 7.6 ms to
    fetch, the version 0.3 ms. Arrays kept are read-only; a few portfolios are kept (the least recent
    goes first), at most ``MAX_BYTES`` of them."""

    MAX_ENTRIES = 8
    MAX_BYTES = 64 * 2**20

    def __init__(self) -> None:
        self._entries: OrderedDict[int, tuple[tuple, PanelSnapshot]] = OrderedDict()
        self._lock = threading.Lock()  # gthread workers serve requests from two threads

    def get(self, portfolio_id: int, version: tuple) -> PanelSnapshot | None:
        with self._lock:
            entry = self._entries.get(portfolio_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(portfolio_id)
            return entry[1]

    def put(self, portfolio_id: int, version: tuple, snapshot: PanelSnapshot) -> None:
        for array in (snapshot.ids, snapshot.days, snapshot.values):
            array.setflags(write=False)
        with self._lock:
            self._entries[portfolio_id] = (version, snapshot)
            self._entries.move_to_end(portfolio_id)
            while len(self._entries) > self.MAX_ENTRIES or (
                len(self._entries) > 1 and sum(s.values.nbytes for _, s in self._entries.values()) > self.MAX_BYTES
            ):
                self._entries.popitem(last=False)


SNAPSHOTS = _SnapshotCache()


def _snapshot_get_postgres(portfolio_id: int | None, ids: np.ndarray | None) -> PanelSnapshot | None:
    """One fetch in PostgreSQL's binary format: the bytea arrives as its bytes (the text format
    doubles them as hex, and decoding that costs more than the transfer). Without ``portfolio_id``,
    the portfolio of the first id, if every id belongs to it. With it, the row's version is read
    first and a snapshot this process already holds at that version is answered (``_SnapshotCache``)."""
    table, strategies = ReturnsPanelSnapshot._meta.db_table, Strategy._meta.db_table
    connection.ensure_connection()
    if portfolio_id is not None:
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(f"SELECT xmin::text, updated_at FROM {table} WHERE portfolio_id = %s", [portfolio_id])
            version = cursor.fetchone()
        if version is None:
            return None
        kept = SNAPSHOTS.get(portfolio_id, version)
        if kept is not None:
            return kept
    columns = f'p.strategy_ids, p.days, p."values", p.xmin::text, p.updated_at FROM {table} p'
    if portfolio_id is not None:
        sql, params = f"SELECT {columns} WHERE p.portfolio_id = %s", [portfolio_id]
    else:
        sql = (
            f"SELECT {columns} WHERE p.portfolio_id = (SELECT portfolio_id FROM {strategies} WHERE id = %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {strategies} o WHERE o.id = ANY(%s) AND o.portfolio_id <> p.portfolio_id)"
        )
        params = [int(ids[0]), ids.tolist()]
    with psycopg.Cursor(connection.connection) as cursor:  # server-side binding: binary results
        cursor.execute(sql, params, binary=True)
        row = cursor.fetchone()
    if row is None:
        return None
    snapshot = snapshot_decode(*row[:3])
    if portfolio_id is not None:
        SNAPSHOTS.put(portfolio_id, (row[3], row[4]), snapshot)
    return snapshot


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
    """strategy id -> its fund, for every strategy of the portfolio that has one, by strategy id.

    On PostgreSQL the ids and the amounts come as two comma-separated texts (one row, not one
    Python row object per fund: 10,000 funds 37 -> 8 ms); each amount is read by ``Decimal`` from
    its exact text, as the driver reads a numeric."""
    if connection.vendor != "postgresql":
        return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy_id", "amount"))
    sql = (
        "SELECT string_agg(f.strategy_id::text, ',' ORDER BY f.strategy_id), "
        "string_agg(f.amount::text, ',' ORDER BY f.strategy_id) "
        f"FROM {Fund._meta.db_table} f JOIN {Strategy._meta.db_table} s ON s.id = f.strategy_id "
        "WHERE s.portfolio_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [portfolio.pk])
        ids, amounts = cursor.fetchone()
    if ids is None:
        return {}
    return dict(zip(map(int, ids.split(",")), map(Decimal, amounts.split(",")), strict=True))


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
    ids, weights = _momentum_of_run(run_id)
    if not ids.size:
        return None
    order = np.argsort(ids)
    ids, weights = ids[order], weights[order]
    at = np.minimum(np.searchsorted(ids, universe.ids), ids.size - 1)
    return np.where(ids[at] == universe.ids, weights[at], np.nan)


def _momentum_of_run(run_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(strategy ids, momentum weights) of a run's lines that have one; on PostgreSQL packed as
    binary like the returns (``_rows_since_postgres``): the doubles exactly, no row objects."""
    if connection.vendor == "postgresql":
        sql = (
            "SELECT string_agg(int8send(strategy_id), ''::bytea), string_agg(float8send(momentum_weight), ''::bytea) "
            f"FROM {AllocationLine._meta.db_table} WHERE run_id = %s AND momentum_weight IS NOT NULL"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [run_id])
            packed_ids, packed_weights = cursor.fetchone()
        if packed_ids is None:
            return np.empty(0, np.int64), np.empty(0)
        return (
            np.frombuffer(packed_ids, dtype=">i8").astype(np.int64),
            np.frombuffer(packed_weights, dtype=">f8").astype(float),
        )
    stored = list(
        AllocationLine.objects.filter(run_id=run_id, momentum_weight__isnull=False).values_list(
            "strategy_id", "momentum_weight"
        )
    )
    return (
        np.fromiter((row[0] for row in stored), dtype=np.int64, count=len(stored)),
        np.fromiter((row[1] for row in stored), dtype=float, count=len(stored)),
    )
