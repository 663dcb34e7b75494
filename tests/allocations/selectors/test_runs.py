"""allocations/selectors/runs.py: a run's explanation is stored once, its per-strategy rows as one
array per stage (``strategy_columns``), and read back as the rows the rebalance answered; a run
is found by its allocation id in its own portfolio only."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from allocations.models import AllocationRun
from allocations.models.fields import explanation_compact, explanation_rows
from allocations.selectors.runs import explanation_summary, run_explanation_rows, run_get
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.demo_support import demo_users, seeded_demo, set_policy
from tests.factories import AllocationPolicyFactory

JSON_PARAMETER = {"postgresql": "%s::jsonb", "sqlite": "%s"}
STAGE_KEYS = ("sector", "base", "after_signals", "after_smoothing", "after_caps", "final")


def _explanation(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = {}
    for j in range(n):
        weights = rng.random(5)
        rows[f"s{j:03d}"] = {
            "sector": ["tech", "energy", "ünï"][j % 3],
            **dict(zip(STAGE_KEYS[1:], weights.tolist(), strict=True)),
            "risk_contribution": None if j % 7 == 0 else float(rng.random()),
            "binding_limit": ["", "strategy", "sector"][j % 3],
            "binding_amount": [0.0, -0.0, 5e-324, 1e-300, 1 / 3][j % 5] if j % 2 else float(rng.random()),
            "flags": ["stale"] if j % 5 == 0 else [],
        }
    return {"method": "risk_parity", "ex_ante_volatility": 0.1, "notes": ["x"], "strategies": rows}


@pytest.mark.parametrize("n, seed", [(0, 0), (1, 1), (40, 2)])
def test_the_compact_form_round_trips_to_the_same_rows(n, seed):
    explanation = _explanation(n, seed)
    compact = explanation_compact(explanation)
    assert "strategies" not in compact
    assert compact["strategy_columns"]["strategy"] == list(explanation["strategies"])
    back = explanation_rows(json.loads(json.dumps(compact)))  # as the database gives it back
    assert back == explanation
    for code, row in explanation["strategies"].items():  # bit for bit: -0.0 stays -0.0
        assert [repr(v) for v in back["strategies"][code].values()] == [repr(v) for v in row.values()]
    assert list(back["strategies"]) == list(explanation["strategies"])  # the order of the strategies too
    assert len(json.dumps(compact)) < len(json.dumps(explanation)) or n < 2


def test_an_explanation_without_rows_or_with_uneven_rows_is_stored_as_it_is():
    plain = {"method": "equal_weight"}
    assert explanation_compact(plain) == plain and explanation_rows(plain) == plain
    uneven = {"strategies": {"a": {"base": 0.5}, "b": {"base": 0.5, "extra": 1}}}
    assert explanation_compact(uneven) == uneven


@pytest.fixture
def applied_run(db):
    demo = seeded_demo(strategies=14, days=70, seed=5)
    set_policy(demo, approval_threshold=2.0)
    pm = Actor.of_user(demo_users("pm")["pm"])
    return allocation_run_create(portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="risk_parity"))


def test_a_run_stores_its_rows_as_columns_and_reads_them_back_as_rows(applied_run):
    answered = applied_run.explanation_rows()["strategies"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT explanation FROM {AllocationRun._meta.db_table} WHERE id = %s", [applied_run.run.pk])
        raw = cursor.fetchone()[0]
    stored = json.loads(raw) if isinstance(raw, str) else raw
    assert "strategies" not in stored and stored["strategy_columns"]["strategy"] == list(answered)
    assert set(stored["strategy_columns"]["base"]) == {"f8"}  # a column of floats is packed
    run = AllocationRun.objects.get(pk=applied_run.run.pk)
    assert run.explanation["strategies"] == answered  # every stage, bit for bit
    assert applied_run.run.explanation["strategies"] == answered  # the instance the service returned too
    assert run_explanation_rows(run=run) == [{"strategy": code, **answered[code]} for code in sorted(answered)]
    summary = explanation_summary(run.explanation)
    assert summary["strategies_explained"] == len(answered) and "strategy_columns" not in summary


def test_a_run_stored_before_the_compact_form_reads_as_it_was(applied_run):
    """Rows written with one object per strategy (before migration 0010) are read unchanged."""
    old = applied_run.explanation_rows()
    old.pop("phase_timings_ms", None)
    table, parameter = AllocationRun._meta.db_table, JSON_PARAMETER[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET explanation = {parameter} WHERE id = %s",
            [json.dumps(old), applied_run.run.pk],
        )
    run = AllocationRun.objects.get(pk=applied_run.run.pk)
    assert run.explanation == old
    assert len(run_explanation_rows(run=run)) == len(old["strategies"])


def make_run(portfolio):
    return AllocationRun.objects.create(
        portfolio=portfolio,
        policy=AllocationPolicyFactory(portfolio=portfolio),
        method="hybrid",
        inputs_digest="0" * 64,
        total_equity=Decimal("1000.00"),
    )


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "123", "None", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", None, 12])
def test_run_get_with_a_malformed_id_is_none(portfolio, bad):
    make_run(portfolio)
    assert run_get(portfolio=portfolio, public_id=bad) is None


def test_run_get_finds_the_portfolios_run_only(portfolio, other_portfolio):
    mine, theirs = make_run(portfolio), make_run(other_portfolio)
    assert run_get(portfolio=portfolio, public_id=str(mine.public_id)) == mine
    assert run_get(portfolio=portfolio, public_id=str(mine.public_id).upper()) == mine
    assert run_get(portfolio=portfolio, public_id=mine.public_id) == mine  # a UUID as well as its text
    assert run_get(portfolio=portfolio, public_id=str(theirs.public_id)) is None
    assert run_get(portfolio=portfolio, public_id=str(uuid.uuid4())) is None
