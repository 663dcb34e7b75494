"""Weights in answers are rounded to 12 decimals; exact zeros stay zero; amounts stay exact (issue 8 item 17).

The engine's float arithmetic leaves noise such as ``cash_weight: 2.22e-16``: a weight that is
zero to every purpose, shown as a number a client must round itself. Weights are rounded where
they are serialized (the weight fields and ``finite_or_none``), once for every view.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from allocations.api.serializers import WEIGHT_DECIMALS, WeightField, WeightMapField, finite_or_none, weight_shown
from allocations.models import AllocationLine, AllocationRun

BASE = "/api/v1/portfolios/demo"
NOISE = 2.220446049250313e-16  # one unit in the last place of 1.0


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (NOISE, 0.0),
        (-NOISE, 0.0),
        (0.0, 0.0),
        (-0.0, 0.0),
        (1.0, 1.0),
        (0.30000000000000004, 0.3),
        (0.0009554210461012831, 0.000955421046),
        (1 - NOISE, 1.0),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (np.float64(0.30000000000000004), 0.3),
        (np.float64(math.nan), None),
        (None, None),
    ],
)
def test_a_weight_is_shown_to_12_decimals(value, shown):
    for rendered in (
        WeightField(allow_null=True).to_representation(value) if value is not None else None,
        WeightMapField().to_representation({"a": value})["a"],
        finite_or_none({"a": [value]})["a"][0],
    ):
        assert rendered == shown
        if shown == 0.0:
            assert math.copysign(1.0, rendered) == 1.0  # never "-0.0"


def test_maps_and_bodies_show_every_weight_as_weight_shown_does():
    """The map field and ``finite_or_none`` show many weights in one pass: value for value what
    ``weight_shown`` gives, noise, ties at the 12th decimal and non-finite values included."""
    rng = np.random.default_rng(7)
    values = [*rng.dirichlet(np.ones(2_000)).tolist(), *(rng.integers(0, 10**12, 500) / 10**12 + 5e-13).tolist()]
    values += [v + NOISE for v in values[:500]] + [-v for v in values[:100]] + [math.nan, math.inf, -0.0, None]
    values += [1 - NOISE, 1.0, -1.0, 1.5, 12345.678901234567, -0.5e-12, 0.5e-12, 2.5e-12, 1e300, 5e-324]
    values += ((rng.integers(-(10**12), 10**12, 2_000) + 0.5) / 1e12).tolist()  # ties: half differ from numpy's
    codes = [f"s{i}" for i in range(len(values))]
    expected = [weight_shown(v) for v in values]
    by_map = WeightMapField().to_representation(dict(zip(codes, values, strict=True)))
    by_body = finite_or_none({"steps": [{"weights": dict(zip(codes, values, strict=True))}], "flat": values})
    assert list(by_map.values()) == expected
    assert list(by_body["steps"][0]["weights"].values()) == expected
    assert by_body["flat"] == expected


def test_finite_or_none_leaves_what_is_not_a_float_alone():
    body = {"n": 3, "s": "0.123456789012345678", "b": True, "amount": "1234567.89", "none": None}
    assert finite_or_none(body) == body


def _floats(value, path=""):
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _floats(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _floats(item, f"{path}[{index}]")


def _assert_rounded(body, *keys):
    checked = 0
    for key in keys:
        for path, value in _floats(body[key], key):
            assert value == round(value, WEIGHT_DECIMALS), (path, value)
            checked += 1
    assert checked


def _noisy(run: AllocationRun) -> AllocationRun:
    """Give a stored run and its lines the noise the engine leaves (the values a run really stored)."""
    AllocationRun.objects.filter(pk=run.pk).update(cash_weight=NOISE, turnover=0.1 + 0.2)
    line = run.lines.order_by("strategy__code").first()
    AllocationLine.objects.filter(pk=line.pk).update(target_weight=1 / 3, limit_excess=NOISE)
    return run


def test_a_dry_runs_weights_are_rounded_and_its_amounts_exact(client_as, demo):
    response = client_as("pm").post(BASE + "/allocation/rebalance", {"dry_run": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    _assert_rounded(body, "current_allocation", "target_allocation", "transition_schedule", "explanation")
    assert body["explanation"]["equity"] == "10000000.00"


def test_a_runs_weights_are_rounded_in_the_list_and_the_detail(client_as, runs):
    run = _noisy(runs["pending"])
    listed = next(
        r
        for r in client_as("viewer").get(BASE + "/runs/").json()["results"]
        if r["allocation_id"] == str(run.public_id)
    )
    assert listed["cash_weight"] == 0.0
    assert listed["turnover"] == 0.3
    detail = client_as("viewer").get(f"{BASE}/runs/{run.public_id}/").json()
    assert detail["cash_weight"] == 0.0
    _assert_rounded(detail, "lines", "current_allocation", "target_allocation", "transition_schedule", "explanation")
    first = detail["lines"][0] if detail["lines"][0]["target_weight"] == 0.333333333333 else None
    assert first is not None and first["limit_excess"] == 0.0
    assert all(isinstance(line["target_amount"], str) for line in detail["lines"])  # amounts: exact decimals


def test_a_schedules_step_weights_are_rounded(client_as, runs):
    schedule = runs["schedule"]
    step = schedule.steps.order_by("index").first()
    key = next(iter(step.weights))
    type(step).objects.filter(pk=step.pk).update(weights={**step.weights, key: 1 / 3 + NOISE})
    body = client_as("viewer").get(f"{BASE}/schedules/{schedule.pk}/").json()
    _assert_rounded(body, "steps")
    assert 0.333333333333 in body["steps"][0]["weights"].values()


def test_current_allocation_and_performance_weights_are_rounded(client_as, runs):
    current = client_as("viewer").get(BASE + "/allocation/current").json()
    _assert_rounded(current, "allocation", "equity_weights")
    assert all(isinstance(amount, str) for amount in current["amounts"].values())
    performance = client_as("viewer").get(BASE + "/allocation/performance").json()
    _assert_rounded(performance, "risk", "sector_exposures")
