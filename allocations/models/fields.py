"""The app's custom model fields, the codecs they store with, and the key factories its tables share.

``CompactExplanationField`` (a run's explanation, one array per key, floats packed),
``CompactStepWeightsField`` (a step's weights as two packed arrays) and ``EncryptedSecretField`` (a
secret encrypted at rest; the cipher is ``allocations.secret_box``). Migrations 0010, 0014 and 0019
name them by their first homes (``allocations.adapters``, ``allocations.secret_fields``), which keep
an alias to this module.
"""

from __future__ import annotations

import base64

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.db.models.query_utils import DeferredAttribute

from allocations import secret_box


def user_or_none() -> models.ForeignKey:
    """A user who may be absent (a command, the scheduler), kept while a row names them."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )


def unchecked_key(to: str, *, related_name: str = "+", null: bool = True, **options) -> models.ForeignKey:
    """A key of an audit row: no database constraint (see ``AuditEntry``), and Django's PROTECT."""
    return models.ForeignKey(
        to,
        on_delete=models.PROTECT,
        related_name=related_name,
        null=null,
        blank=null,
        db_constraint=False,
        **options,
    )


class EncryptedSecretField(models.CharField):
    """A secret text stored encrypted (``enc1:`` and a Fernet token); plain text in Python."""

    def from_db_value(self, value, expression, connection):
        return value if value is None else secret_box.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "" or secret_box.is_encrypted(value):
            return value
        return secret_box.encrypt(value)


STRATEGY_COLUMNS = "strategy_columns"


def _packed(values: list) -> list | dict:
    """A column of floats (or None) as ``{"f8": base64 of float64 bytes}``; any other column as it is."""
    if not values or not all(type(v) is float or v is None for v in values):
        return values
    return packed_array(np.array(values, dtype="<f8"))  # None -> NaN


def packed_array(values: np.ndarray) -> list | dict:
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
    decimal text to write and parse (bench/README.md, *Why these choices*). Rows whose keys differ are
    stored as they are.
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
