"""Turning rows into the engine's arrays: the universe, the returns panel, funds and signals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from allocations import engine
from allocations.models import (
    AllocationLine,
    AllocationPolicy,
    AllocationRun,
    Fund,
    Portfolio,
    SectorSignal,
    Strategy,
    StrategyReturn,
)


@dataclass
class Universe:
    """The strategies a run allocates among, in column order of every array."""

    ids: np.ndarray  # (N,) strategy ids
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


def _window_dates(ids: list[int], window: int) -> list[date]:
    return list(
        StrategyReturn.objects.filter(strategy_id__in=ids)
        .values_list("date", flat=True)
        .distinct()
        .order_by("-date")[:window]
    )[::-1]


def returns_panel(*, universe: Universe, window: int) -> tuple[list[date], np.ndarray]:
    """The last ``window`` dates with any return in the universe, and a (T, N) panel; NaN = no data."""
    n = len(universe)
    if n == 0:
        return [], np.empty((0, 0))
    if connection.vendor == "postgresql":
        return _returns_panel_postgres(universe, window)
    ids = universe.ids.tolist()
    dates = _window_dates(ids, window)
    panel = np.full((len(dates), n), np.nan)
    if not dates:
        return dates, panel
    records = list(
        StrategyReturn.objects.filter(strategy_id__in=ids, date__gte=dates[0]).values_list(
            "strategy_id", "date", "value"
        )
    )
    strategy_ids, days, values = zip(*records, strict=True)
    row_of = {d: i for i, d in enumerate(dates)}
    column_of = {sid: j for j, sid in enumerate(ids)}
    rows = np.fromiter((row_of[d] for d in days), dtype=np.int64, count=len(days))
    cols = np.fromiter((column_of[s] for s in strategy_ids), dtype=np.int64, count=len(strategy_ids))
    panel[rows, cols] = np.fromiter(values, dtype=float, count=len(values))
    panel[:, universe.paused] = np.nan
    return dates, panel


def _returns_panel_postgres(universe: Universe, window: int) -> tuple[list[date], np.ndarray]:
    """One query in the usual case: fetch a calendar span that holds ``window`` business days
    (with room for holidays) and keep the last ``window`` dates found; only when the data is
    sparser or older than that, ask for the window's first date and fetch again."""
    ids = universe.ids.tolist()
    guess = timezone.localdate() - timedelta(days=window * 7 // 5 + 21)
    strategy_ids, days, values = _panel_rows_postgres(ids, guess)
    found = np.unique(days)
    if found.size < window:
        dates = _window_dates(ids, window)
        if dates and dates[0] < guess:
            strategy_ids, days, values = _panel_rows_postgres(ids, dates[0])
            found = np.unique(days)
    found = found[-window:]
    panel = np.full((found.size, len(universe)), np.nan)
    if found.size:
        keep = days >= found[0]
        rows = np.searchsorted(found, days[keep])
        cols = np.searchsorted(universe.ids, strategy_ids[keep])  # universe ids are sorted
        panel[rows, cols] = values[keep]
        panel[:, universe.paused] = np.nan
    return [date.fromordinal(int(d)) for d in found], panel


def _panel_rows_postgres(ids: list[int], since: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strategy id, day ordinal, value) of every return since ``since``, as three numpy arrays.

    PostgreSQL packs each column into one bytea of big-endian binary values (``int8send``,
    ``int4send``, ``float8send``), so 250,000 returns cross the wire as one row that numpy reads
    in place; fetching them as rows costs most of a second in Python objects alone.
    """
    table = StrategyReturn._meta.db_table
    sql = (
        "SELECT string_agg(int8send(strategy_id), ''::bytea), "
        "string_agg(int4send((date - DATE '1970-01-01')::integer), ''::bytea), "
        "string_agg(float8send(value), ''::bytea) "
        f"FROM {table} WHERE strategy_id = ANY(%s) AND date >= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, since])
        packed_ids, packed_days, packed_values = cursor.fetchone()
    if packed_ids is None:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    epoch = date(1970, 1, 1).toordinal()
    return (
        np.frombuffer(packed_ids, dtype=">i8").astype(np.int64),
        np.frombuffer(packed_days, dtype=">i4").astype(np.int64) + epoch,
        np.frombuffer(packed_values, dtype=">f8").astype(float),
    )


def fund_amounts(*, portfolio: Portfolio) -> dict[int, Decimal]:
    return dict(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy_id", "amount"))


def fund_total(*, portfolio: Portfolio) -> Decimal:
    return Fund.objects.filter(strategy__portfolio=portfolio).aggregate(t=Sum("amount"))["t"] or Decimal("0")


def current_weights(*, universe: Universe, amounts: dict[int, Decimal], equity: Decimal) -> tuple[np.ndarray, float]:
    """Funds as fractions of equity, and the basis used.

    If the funds add up to more than the equity (the equity was lowered), weights are taken
    of the funds' total instead, so they still sum to at most 1.
    """
    vector = np.array([float(amounts.get(int(i), 0)) for i in universe.ids], dtype=float)
    total = float(sum(amounts.values(), Decimal("0")))
    basis = max(float(equity), total)
    if basis <= 0:
        return np.zeros(len(universe)), float(equity)
    return vector / basis, basis


def latest_signals(*, portfolio: Portfolio, window_days: int) -> dict[str, dict]:
    """The latest signal of each sector within the window: sector code -> signal."""
    since = timezone.now() - timedelta(days=window_days)
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


def engine_policy(policy: AllocationPolicy, *, method: str | None = None) -> engine.AllocationPolicy:
    return engine.AllocationPolicy(
        method=method or policy.method,
        hybrid_blend=policy.hybrid_blend,
        lookback=policy.lookback_period,
        covariance_lookback=policy.covariance_lookback,
        covariance_estimator=policy.covariance_estimator,
        momentum_factor=policy.momentum_factor,
        signal_decay=policy.signal_decay_factor,
        buy_multiplier=policy.buy_multiplier,
        sell_multiplier=policy.sell_multiplier,
        max_single_strategy=policy.max_single_strategy_exposure,
        max_sector=policy.max_sector_exposure,
        max_total_risk=policy.max_total_risk,
        transition_period_days=policy.transition_period_days,
        max_daily_change=policy.max_daily_change,
        min_change=policy.min_change_threshold,
    )


def inputs_digest(*parts) -> str:
    """SHA-256 over the run's inputs (arrays by their bytes, the rest by repr)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()


def business_days_from(start: date, count: int) -> list[date]:
    """``count`` weekdays starting at ``start`` (or the next weekday)."""
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days
