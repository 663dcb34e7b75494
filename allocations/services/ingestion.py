"""Loading strategy returns: validate everything first, then upsert all rows or none."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
from django.conf import settings
from django.db import transaction

from allocations.errors import DomainError
from allocations.models import AuditEntry, Portfolio, Strategy, StrategyReturn
from allocations.selectors.panels import returns_snapshot_get
from allocations.selectors.portfolios import portfolio_today

from .actors import Actor
from .audit import AuditRecord, audit_append
from .locks import portfolio_lock
from .returns_snapshot import returns_snapshot_merge

MAX_REPORTED_ERRORS = 20
MAX_REPORTED_OVERWRITES = 20
EARLIEST_RETURN_DATE = date(1970, 1, 1)
CSV_COLUMNS = ("date", "strategy", "return")


@dataclass(frozen=True)
class ReturnRow:
    """One raw input row; ``line`` is what error messages cite (CSV line or list index)."""

    line: int
    date: object
    strategy: object
    value: object


@dataclass(frozen=True)
class Overwrite:
    """A stored return this import replaced with another value."""

    strategy: str
    date: date
    old: float
    new: float


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    created: int
    updated: int
    strategies: int
    first_date: date | None
    last_date: date | None
    overwritten: int = 0  # of ``updated``, the stored values that changed (the rest were equal)
    overwrites: tuple[Overwrite, ...] = ()  # the first MAX_REPORTED_OVERWRITES of them
    outliers: int = 0  # returns beyond MAX_ABS_DAILY_RETURN, loaded because the caller allowed them


def returns_rows_from_csv(stream: Iterable[str]) -> list[ReturnRow]:
    """Rows of a ``date,strategy,return`` CSV; line numbers count the header as line 1."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise DomainError("the file is empty; expected a header date,strategy,return", field="file")
    names = [h.strip().lower() for h in header]
    if tuple(names) != CSV_COLUMNS:
        raise DomainError(f"line 1: expected the header date,strategy,return, got {','.join(header)}", field="line 1")
    rows = []
    for number, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != 3:
            rows.append(ReturnRow(number, None, None, f"<{len(record)} columns>"))
            continue
        rows.append(ReturnRow(number, record[0].strip(), record[1].strip(), record[2].strip()))
    return rows


def returns_rows_from_text(text: str) -> list[ReturnRow]:
    return returns_rows_from_csv(io.StringIO(text, newline=""))


def _short(raw: object) -> str:
    """The raw value for an error message, cut short (a JSON number may have thousands of digits)."""
    try:
        text = repr(raw)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        return f"<an integer of {raw.bit_length()} bits>"
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _parse_value(raw: object) -> float | str:
    """The return as a float, or the reason it is not one."""
    if isinstance(raw, str) and raw.startswith("<"):
        return f"expected 3 columns, got {raw[1:-1]}"
    if isinstance(raw, bool) or raw is None or raw == "":
        return "return is missing"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return f"return {_short(raw)} is not a number"
    except OverflowError:  # an integer past a float's range (JSON allows any number of digits)
        return f"return {_short(raw)} is not finite"
    if not math.isfinite(value):
        return f"return {raw!r} is not finite"
    if value <= -1:
        return f"return {raw!r} is -100 % or worse (must be > -1)"
    if value >= 1e6:
        return f"return {raw!r} is implausibly large"
    return value


def _outlier(value: float, *, bound: float, strategy: object, day: object) -> str | None:
    """Why a return is refused as an outlier, or None: +150 % in one day is far likelier a typo (1.5
    meant as 1.5 %) than a fact, and a stored typo moves every weight of the next rebalance."""
    if abs(value) <= bound:
        return None
    return (
        f"return {value!r} is beyond the bound of ±{bound:g} (MAX_ABS_DAILY_RETURN) for {strategy} on {day}; "
        "send allow_outliers to load it as it is"
    )


def _parse_date(raw: object, *, latest: date) -> date | str:
    """The date, or why it is refused: malformed, after ``latest`` (today in the portfolio's time
    zone: a return from the future would become the latest data and move every weight), or before
    ``EARLIEST_RETURN_DATE``."""
    if isinstance(raw, date):
        day = raw
    else:
        try:
            day = date.fromisoformat(str(raw))
        except (TypeError, ValueError):
            return f"date {raw!r} is not a date (YYYY-MM-DD)"
    if day > latest:
        return f"date {day} is after today ({latest}) in the portfolio's time zone"
    if day < EARLIEST_RETURN_DATE:
        return f"date {day} is before {EARLIEST_RETURN_DATE}, the earliest return accepted"
    return day


def returns_import(
    *, portfolio: Portfolio, rows: list[ReturnRow], actor: Actor, source: str = "", allow_outliers: bool = False
) -> ImportSummary:
    """Upsert daily returns of the portfolio's strategies; all rows or none.

    Rejects, citing the line: a malformed date, a date after today (in the portfolio's time zone)
    or before ``EARLIEST_RETURN_DATE``, an unknown strategy, a return that is missing,
    not a number, not finite or <= -1, a return beyond ``settings.MAX_ABS_DAILY_RETURN`` either way
    (unless ``allow_outliers``: the audit row then says so and how many), and the same (strategy,
    date) twice. Every bad row is listed, each under its own line (``DomainError.by_field``). A
    known (strategy, date) gets its value replaced, so loading the same file twice changes nothing;
    the summary counts the stored values that changed (``overwritten``) and names the first ones.
    The portfolio's returns snapshot (what the panel loader reads) is updated in the same transaction.
    """
    if not rows:
        raise DomainError("no rows to import", field="rows")
    strategy_ids = dict(Strategy.objects.filter(portfolio=portfolio).values_list("code", "id"))
    latest = portfolio_today(portfolio)
    bound = settings.MAX_ABS_DAILY_RETURN
    outliers = 0
    errors: list[str] = []
    by_line: dict[str, list[str]] = {}
    invalid = 0
    seen: dict[tuple[int, date], int] = {}
    clean: list[StrategyReturn] = []
    for row in rows:
        problems = []
        value = _parse_value(row.value)
        malformed = isinstance(row.value, str) and row.value.startswith("<")  # a CSV line with too few or many columns
        day = None if malformed else _parse_date(row.date, latest=latest)
        strategy_id = strategy_ids.get(str(row.strategy)) if row.strategy is not None else None
        if isinstance(day, str):
            problems.append(day)
        if strategy_id is None and not malformed:
            problems.append(f"unknown strategy {row.strategy!r}")
        if isinstance(value, str):
            problems.append(value)
        elif (beyond := _outlier(value, bound=bound, strategy=row.strategy, day=row.date)) is not None:
            if allow_outliers:
                outliers += 1
            else:
                problems.append(beyond)
        if not problems:
            key = (strategy_id, day)
            if key in seen:
                problems.append(f"{row.strategy} on {day} already given on line {seen[key]}")
            seen[key] = row.line
        if problems:
            invalid += 1
            if len(errors) < MAX_REPORTED_ERRORS:  # every bad row is counted; the first ones are told
                errors.append(f"line {row.line}: " + "; ".join(problems))
                by_line.setdefault(f"line {row.line}", []).extend(problems)
        elif not invalid:
            clean.append(StrategyReturn(strategy_id=strategy_id, date=day, value=value))
    if errors:
        first_line = errors[0].split(":", 1)[0]
        listed = f" (the first {len(errors)} listed)" if invalid > len(errors) else ""
        raise DomainError(
            f"{invalid} invalid row(s){listed}; nothing was imported. " + errors[0],
            field=first_line,
            errors=errors,
            by_field=by_line,
        )

    with transaction.atomic():
        portfolio_lock(portfolio.pk)  # the snapshot is read-modify-write: one import or rebalance at a time
        before = returns_snapshot_get(portfolio_id=portfolio.pk)
        days = [r.date for r in clean]
        in_range = StrategyReturn.objects.filter(
            strategy_id__in={r.strategy_id for r in clean}, date__gte=min(days), date__lte=max(days)
        ).values_list("strategy_id", "date", "value")
        stored = {(sid, day): value for sid, day, value in in_range if (sid, day) in seen}
        changed = [r for r in clean if (r.strategy_id, r.date) in stored and stored[r.strategy_id, r.date] != r.value]
        codes = {sid: code for code, sid in strategy_ids.items()}
        overwrites = tuple(
            Overwrite(strategy=codes[r.strategy_id], date=r.date, old=stored[r.strategy_id, r.date], new=r.value)
            for r in changed[:MAX_REPORTED_OVERWRITES]
        )
        StrategyReturn.objects.bulk_create(
            clean,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["strategy", "date"],
            update_fields=["value"],
        )
        returns_snapshot_merge(
            portfolio=portfolio,
            before=before,
            strategy_ids=np.fromiter((r.strategy_id for r in clean), dtype=np.int64, count=len(clean)),
            days=np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(clean)),
            values=np.fromiter((r.value for r in clean), dtype=float, count=len(clean)),
        )
        summary = ImportSummary(
            rows=len(clean),
            created=len(clean) - len(stored),
            updated=len(stored),
            strategies=len({r.strategy_id for r in clean}),
            first_date=min(days),
            last_date=max(days),
            overwritten=len(changed),
            overwrites=overwrites,
            outliers=outliers,
        )
        audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(
                kind=AuditEntry.Kind.DATA_IMPORT,
                reason=f"returns import{f' from {source}' if source else ''}",
                payload={
                    "rows": summary.rows,
                    "created": summary.created,
                    "updated": summary.updated,
                    "strategies": summary.strategies,
                    "first_date": str(summary.first_date),
                    "last_date": str(summary.last_date),
                    "overwritten": summary.overwritten,
                    # said only when asked for, so the trail shows who loaded a +150 % day knowingly
                    **({"allow_outliers": True, "outliers": outliers} if allow_outliers else {}),
                },
            ),
        )
    return summary
