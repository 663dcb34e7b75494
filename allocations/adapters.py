"""Pure conversions between rows and the engine's arrays: no queries, no writes.

The services load rows through the selectors, turn them into arrays here, call the engine and
turn its arrays back into amounts and dated steps here. Everything is a function of its
arguments, so it is tested without a database.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.db.models.query_utils import DeferredAttribute

from allocations import engine
from allocations.calendar import business_days_from
from allocations.policy_fields import POLICY_FIELDS


def engine_policy(policy_row, *, method: str | None = None) -> engine.AllocationPolicy:
    """The engine's policy from a stored policy version (``method`` overrides the row's)."""
    values = {f.engine_name: getattr(policy_row, f.name) for f in POLICY_FIELDS.values() if f.engine_name}
    if method:
        values["method"] = method
    return engine.AllocationPolicy(**values)


def plan_for_policy(policy_row, current: np.ndarray, target: np.ndarray, *, force: bool) -> np.ndarray:
    """The transition steps (steps x N) from ``current`` to ``target`` under a stored policy version."""
    return engine.plan_transition(
        current,
        target,
        period_days=policy_row.transition_period_days,
        max_daily_change=policy_row.max_daily_change,
        min_change=policy_row.min_change_threshold,
        force=force,
    )


def by_code(codes: Sequence[str], weights: Iterable[float]) -> dict[str, float]:
    """``{code: weight}`` in the order of ``codes``."""
    return dict(zip(codes, np.asarray(weights, dtype=float).tolist(), strict=True))


def planned_steps(codes: Sequence[str], plan: np.ndarray, days: Sequence[date]) -> list[dict]:
    """The answer's rows for steps not written yet (a dry run, a run waiting for approval)."""
    return [
        {"step": k + 1, "due_date": day.isoformat(), "status": "planned", "weights": by_code(codes, row)}
        for k, (day, row) in enumerate(zip(days, plan, strict=True))
    ]


def planned_steps_from(codes: Sequence[str], plan: np.ndarray, today: date) -> list[dict]:
    """``planned_steps`` on the business days from ``today`` (one a step)."""
    return planned_steps(codes, plan, business_days_from(today, plan.shape[0]))


def inputs_digest(*parts) -> str:
    """SHA-256 over a run's inputs (arrays by their bytes, the rest by ``repr``)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            contiguous = np.ascontiguousarray(part)
            # the array's bytes as they are (``tobytes`` copied 20 MB of panel at 10,000 strategies)
            digest.update(contiguous.tobytes() if contiguous.dtype.hasobject else contiguous.reshape(-1).view(np.uint8))
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()


def run_explanation(result: engine.AllocationResult, codes: Sequence[str], sectors: Sequence[str], extra: dict) -> dict:
    """The run's explanation: the engine's run-level facts, ``extra``, and every stage per strategy,
    built in the compact form it is stored in (``explanation_compact``: a column per key, floats packed)
    straight from the engine's arrays. ``explanation_rows`` gives the per-strategy rows."""
    columns: dict[str, list | dict] = {"strategy": list(codes), "sector": list(sectors)}
    for name, values in result.stages.items():
        columns[name] = _packed_array(values)
    columns["risk_contribution"] = _packed_array(result.risk_contributions)
    columns["binding_limit"] = [str(v) for v in result.binding_limit.tolist()]
    columns["binding_amount"] = _packed_array(result.binding_amount)
    columns["flags"] = [[flag] if flag else [] for flag in map(str, result.flags.tolist())]
    facts = {key: value for key, value in result.to_dict_explanation().items() if key != "strategies"}
    return {**facts, **extra, STRATEGY_COLUMNS: columns}


STRATEGY_COLUMNS = "strategy_columns"


def _packed(values: list) -> list | dict:
    """A column of floats (or None) as ``{"f8": base64 of float64 bytes}``; any other column as it is."""
    if not values or not all(type(v) is float or v is None for v in values):
        return values
    return _packed_array(np.array(values, dtype="<f8"))  # None -> NaN


def _packed_array(values: np.ndarray) -> list | dict:
    """``_packed`` of a float array (NaN for None): every NaN written as the one NaN ``_packed`` writes."""
    array = np.asarray(values, dtype="<f8")
    if not array.size:
        return []
    nan = np.isnan(array)
    if nan.any():
        array = np.where(nan, np.nan, array).astype("<f8")
    return {"f8": base64.b64encode(array.tobytes()).decode("ascii")}


def _unpacked(column: list | dict) -> list:
    if not isinstance(column, dict):
        return column
    array = np.frombuffer(base64.b64decode(column["f8"]), dtype="<f8")
    values = array.tolist()
    if np.isnan(array).any():
        values = [None if v != v else v for v in values]
    return values


def explanation_compact(explanation: dict) -> dict:
    """The explanation as stored: its per-strategy rows (``strategies``: code -> row) as one array per
    key under ``strategy_columns`` (the codes under ``strategy``), in the rows' order.

    A thousand rows repeat a dozen keys a thousand times; the arrays are about half the JSON and
    half the time to write. A column of floats (``None`` for NaN, as the engine's JSON form has it)
    is packed as its little-endian float64 bytes in base64 (``{"f8": ...}``): bit for bit, and no
    decimal text to write and parse (at 10,000 strategies 1.7 MB of numbers become 0.6 MB, 110 ms of
    writing 35). Rows whose keys differ are stored as they are.
    """
    rows = explanation.get("strategies")
    if not isinstance(rows, dict):
        return explanation
    keys = list(next(iter(rows.values()), {}))
    if any(list(row) != keys for row in rows.values()):
        return explanation
    columns = {"strategy": list(rows)}
    for key in keys:
        columns[key] = _packed([row[key] for row in rows.values()])
    compact = {key: value for key, value in explanation.items() if key != "strategies"}
    compact[STRATEGY_COLUMNS] = columns
    return compact


def explanation_rows(stored: dict) -> dict:
    """``explanation_compact`` undone: the per-strategy rows (``strategies``: code -> row) as the run
    answered them; an explanation stored with its rows (before the compact form) is returned as it is."""
    columns = stored.get(STRATEGY_COLUMNS)
    if not isinstance(columns, dict):
        return stored
    keys = [key for key in columns if key != "strategy"]
    rows = {
        code: dict(zip(keys, values, strict=True))
        for code, *values in zip(columns["strategy"], *(_unpacked(columns[key]) for key in keys), strict=True)
    }
    explanation = {key: value for key, value in stored.items() if key != STRATEGY_COLUMNS}
    explanation["strategies"] = rows
    return explanation


class _RowsWhenRead(DeferredAttribute):
    """An explanation assigned in the compact form (a rebalance builds it so) reads as rows: expanded on
    first access and kept, so the instance a service returns reads as one loaded from the database."""

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)
        if instance is not None and isinstance(value, dict) and STRATEGY_COLUMNS in value:
            value = instance.__dict__[self.field.attname] = explanation_rows(value)
        return value

    def __set__(self, instance, value):  # a data descriptor: read through ``__get__`` even once set
        instance.__dict__[self.field.attname] = value


class CompactExplanationField(models.JSONField):
    """A run's explanation: written in the compact form (``explanation_compact``), read back as rows
    (``explanation_rows``), so every reader sees the rows the rebalance answered."""

    descriptor_class = _RowsWhenRead

    def get_prep_value(self, value):
        return super().get_prep_value(explanation_compact(value) if isinstance(value, dict) else value)

    def from_db_value(self, value, expression, connection):
        value = super().from_db_value(value, expression, connection)
        if isinstance(value, dict) and not isinstance(expression, KeyTransform):
            return explanation_rows(value)
        return value


def step_weights_compact(ids: np.ndarray, weights: np.ndarray) -> dict:
    """A step's weights as stored: the strategy ids and the weights as little-endian int64 and float64
    bytes in base64 (``{"ids": ..., "f8": ...}``), bit for bit, in the order given."""
    return {
        "ids": base64.b64encode(np.asarray(ids, dtype="<i8").tobytes()).decode("ascii"),
        "f8": base64.b64encode(np.asarray(weights, dtype="<f8").tobytes()).decode("ascii"),
    }


def step_weights_rows(stored: dict) -> dict:
    """``step_weights_compact`` undone: strategy id (a string, as JSON keys are) -> weight. Weights
    stored as an object (before the compact form) are returned as they are."""
    if set(stored) != {"ids", "f8"} or not all(isinstance(v, str) for v in stored.values()):
        return stored
    ids = np.frombuffer(base64.b64decode(stored["ids"]), dtype="<i8").tolist()
    weights = np.frombuffer(base64.b64decode(stored["f8"]), dtype="<f8").tolist()
    return dict(zip(map(str, ids), weights, strict=True))


class CompactStepWeightsField(models.JSONField):
    """A transition step's weights (strategy id -> weight), written as two packed arrays
    (``step_weights_compact``) and read back as the mapping.

    A 1,000-strategy schedule of five steps was 5,000 keys for the database to parse into JSONB (and
    70 KB to compress); packed it is ten strings."""

    def get_prep_value(self, value):
        if isinstance(value, dict) and not set(value) <= {"ids", "f8"}:
            value = step_weights_compact(np.array([int(k) for k in value], dtype=np.int64), list(value.values()))
        return super().get_prep_value(value)

    def from_db_value(self, value, expression, connection):
        value = super().from_db_value(value, expression, connection)
        if isinstance(value, dict) and not isinstance(expression, KeyTransform):
            return step_weights_rows(value)
        return value
