"""A backend terminated under a fast path (a failover, an administrator's pg_terminate_backend): the
error is Django's, so the API answers 503 with Retry-After and a task retries it (PostgreSQL).

The raw psycopg cursors (COPY, binary results) bypassed Django's error translation: a psycopg
error there was a 500 and escaped the tasks' ``autoretry_for``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import psycopg
import pytest
from django.db import Error, connection, transaction
from django.utils import timezone

from allocations.api.exceptions import api_exception_handler
from allocations.audit_canonical import AuditRecord
from allocations.models import AuditEntry, Portfolio, StrategyReturn
from allocations.panel_snapshot import PanelSnapshot, snapshot_encode
from allocations.tasks import TRANSIENT

from .chain_support import chain_start
from .test_contract import _line_columns, world  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.postgres]


def _terminate_own_backend() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _audit(w):
    from allocations.db import postgresql

    now = timezone.now()
    records = [
        AuditRecord(kind=AuditEntry.Kind.FUND_CHANGE, strategy_id=s.pk, new_amount=Decimal("1"))
        for s in w["strategies"]
    ]
    start = chain_start(w["portfolio"].pk, now=now, actor_label="system:test")
    postgresql.audit_rows_insert(records, start)


def _locked(w):
    from allocations.db import postgresql

    with transaction.atomic():
        postgresql.row_lock(Portfolio.objects.filter(pk=w["portfolio"].pk), timeout_ms=1000)


def _snapshot(w):
    return PanelSnapshot(ids=np.array([w["strategies"][0].pk]), days=np.array([739000]), values=np.array([[0.1]]))


def fast_paths():
    from allocations.db import postgresql as pg

    return {
        "bulk_insert": lambda w: pg.bulk_insert(
            StrategyReturn, [{"strategy_id": w["strategies"][0].pk, "date": dt.date(2026, 12, 2), "value": 0.1}]
        ),
        "audit_rows_insert": _audit,
        "allocation_lines_insert": lambda w: pg.allocation_lines_insert(_line_columns(w, [0.1, None, 0.2])),
        "fund_amounts_update": lambda w: pg.fund_amounts_update(
            [(w["strategies"][0].pk, Decimal("5"))], timezone.now()
        ),
        "row_lock": _locked,
        "returns_snapshot_store": lambda w: pg.returns_snapshot_store(
            w["portfolio"].pk, snapshot_encode(_snapshot(w)), timezone.now()
        ),
        "returns_snapshot_get": lambda w: (
            pg.SNAPSHOTS._entries.clear(),
            pg.returns_snapshot_get(w["portfolio"].pk, None),
        ),
        "returns_snapshot_get_by_ids": lambda w: pg.returns_snapshot_get(
            None, np.array([s.pk for s in w["strategies"]])
        ),
        "returns_rows_since": lambda w: pg.returns_rows_since([s.pk for s in w["strategies"]], None),
        "momentum_of_run": lambda w: pg.momentum_of_run(w["run"].pk),
        "fund_changes": lambda w: pg.fund_changes(w["portfolio"].pk, "UTC"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "bulk_insert",
        "audit_rows_insert",
        "allocation_lines_insert",
        "fund_amounts_update",
        "row_lock",
        "returns_snapshot_store",
        "returns_snapshot_get",
        "returns_snapshot_get_by_ids",
        "returns_rows_since",
        "momentum_of_run",
        "fund_changes",
    ],
)
def test_a_terminated_backend_on_a_fast_path_answers_503_and_is_retried(transactional_db, world, name):  # noqa: F811
    if connection.vendor != "postgresql":
        pytest.skip("the fast paths run on PostgreSQL")
    _terminate_own_backend()
    try:
        with pytest.raises(Exception) as caught:
            fast_paths()[name](world)
        error = caught.value
        assert isinstance(error, Error), f"{type(error).__module__}.{type(error).__name__}: not Django's"
        assert isinstance(error, TRANSIENT)  # the tasks' autoretry_for
        response = api_exception_handler(error, {"request": SimpleNamespace()})
        assert response.status_code == 503 and int(response["Retry-After"]) > 0
    finally:
        connection.close()  # the next test (and the teardown) connects again
