"""Transition planner (ARCHITECTURE §5.4): at once, equal bounded steps, exact landing."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocations.engine import (
    MAX_TRANSITION_STEPS,
    InvalidInputError,
    InvalidPolicyError,
    plan_transition,
    transition_step_count,
)

from .conftest import PROPERTY


def steps_of(current, schedule):
    return np.abs(np.diff(np.vstack([current, schedule]), axis=0))


def test_contract_example():
    s = plan_transition(
        np.array([1.0, 0.0]), np.array([0.5, 0.5]), period_days=5, max_daily_change=0.1, min_change=0.05
    )
    assert s.shape == (5, 2)
    np.testing.assert_allclose(s[:, 1], [0.1, 0.2, 0.3, 0.4, 0.5])


def test_small_change_applies_at_once():
    s = plan_transition([0.5, 0.5], [0.52, 0.48], period_days=5, max_daily_change=0.1, min_change=0.05)
    np.testing.assert_array_equal(s, [[0.52, 0.48]])


def test_force_applies_at_once():
    s = plan_transition([1.0, 0.0], [0.0, 1.0], period_days=5, max_daily_change=0.1, min_change=0.05, force=True)
    np.testing.assert_array_equal(s, [[0.0, 1.0]])


def test_large_moves_need_more_steps_than_the_period_and_the_first_step_is_bounded_too():
    s = plan_transition([0.0, 0.7], [0.7, 0.0], period_days=2, max_daily_change=0.1, min_change=0.05)
    assert s.shape[0] == 7
    assert steps_of([0.0, 0.7], s).max() <= 0.1 + 1e-12


@pytest.mark.parametrize(("move", "cap", "steps"), [(0.3, 0.1, 3), (0.7, 0.1, 7), (0.9, 0.3, 3), (0.6, 0.2, 3)])
def test_exactly_divisible_moves_do_not_add_a_step(move, cap, steps):
    s = plan_transition([0.0, move], [move, 0.0], period_days=1, max_daily_change=cap, min_change=0.0)
    assert s.shape[0] == steps
    assert steps_of([0.0, move], s).max() <= cap + 1e-12


@PROPERTY
@given(
    n=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    period=st.integers(1, 10),
    cap=st.floats(1 / 260, 1.0),  # the policy's bound: at most 260 steps
    min_change=st.floats(0.0, 0.5),
)
def test_steps_are_bounded_and_land_on_the_target(n, seed, period, cap, min_change):
    rng = np.random.default_rng(seed)
    current = rng.dirichlet(np.ones(n)) * rng.uniform(0, 1)
    target = rng.dirichlet(np.ones(n)) * rng.uniform(0, 1)
    s = plan_transition(current, target, period_days=period, max_daily_change=cap, min_change=min_change)
    np.testing.assert_array_equal(s[-1], target)
    assert np.isfinite(s).all() and (s >= 0).all()
    if np.abs(target - current).sum() < min_change:
        assert s.shape[0] == 1
    else:
        assert s.shape[0] >= period
        assert steps_of(current, s).max() <= cap + 1e-12
        # equal steps: no more steps than needed
        assert s.shape[0] == max(period, int(np.ceil(np.abs(target - current).max() / cap - 1e-9)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"current": [0.5], "target": [0.5, 0.5]}, "same shape"),
        ({"current": [[0.5]], "target": [[0.5]]}, "1-D"),
        ({"current": [np.nan, 0.5], "target": [0.5, 0.5]}, "NaN"),
        ({"current": [-0.1, 0.5], "target": [0.5, 0.5]}, "negative"),
        ({"period_days": 0}, "period_days"),
        ({"period_days": 2.5}, "period_days"),
        ({"max_daily_change": 0.0}, "max_daily_change"),
        ({"max_daily_change": 1.5}, "max_daily_change"),
        ({"min_change": -0.1}, "min_change"),
        ({"min_change": float("nan")}, "min_change"),
    ],
)
def test_bad_inputs(kwargs, match):
    args = {
        "current": [1.0, 0.0],
        "target": [0.5, 0.5],
        "period_days": 5,
        "max_daily_change": 0.1,
        "min_change": 0.05,
    } | kwargs
    with pytest.raises(InvalidInputError, match=match):
        plan_transition(args.pop("current"), args.pop("target"), **args)


@pytest.mark.parametrize("cap", [1e-4, 1e-9, 1e-300, 5e-324])
def test_issue_9_tiny_max_daily_change_is_refused_before_allocating(cap):
    """Issue 9, defect 2: 1e-4 at N = 5,000 planned 10,000 steps (800 MB); 1e-300 never returned."""
    current = np.zeros(5000)
    target = np.full(5000, 1 / 5000)
    target[0] += 0.1
    target /= target.sum()
    kwargs = {"period_days": 5, "max_daily_change": cap, "min_change": 0.05}
    with pytest.raises(InvalidPolicyError, match="max_daily_change"):
        transition_step_count(current, target, **kwargs)
    with pytest.raises(InvalidPolicyError, match="max_daily_change"):
        plan_transition(current, target, **kwargs)


def test_issue_9_a_huge_period_is_refused():
    with pytest.raises(InvalidPolicyError, match="transition_period_days"):
        plan_transition([1.0, 0.0], [0.5, 0.5], period_days=10**9, max_daily_change=0.1, min_change=0.05)


@pytest.mark.parametrize(
    ("current", "target", "kwargs", "steps"),
    [
        ([1.0, 0.0], [0.5, 0.5], {"period_days": 5, "max_daily_change": 0.1, "min_change": 0.05}, 5),
        ([0.0, 0.7], [0.7, 0.0], {"period_days": 2, "max_daily_change": 0.1, "min_change": 0.05}, 7),
        ([0.0, 0.3], [0.3, 0.0], {"period_days": 1, "max_daily_change": 0.1, "min_change": 0.0}, 3),
        ([0.5, 0.5], [0.52, 0.48], {"period_days": 5, "max_daily_change": 0.1, "min_change": 0.05}, 1),
        ([1.0, 0.0], [0.0, 1.0], {"period_days": 5, "max_daily_change": 0.1, "min_change": 0.05, "force": True}, 1),
        ([1.0, 0.0], [0.0, 1.0], {"period_days": 1, "max_daily_change": 1 / 260, "min_change": 0.0}, 260),
        ([0.0, 0.0], [0.0, 0.0], {"period_days": 260, "max_daily_change": 1 / 260, "min_change": 0.0}, 260),
    ],
)
def test_step_count_in_closed_form_matches_the_plan(current, target, kwargs, steps):
    assert transition_step_count(current, target, **kwargs) == steps
    schedule = plan_transition(current, target, **kwargs)
    assert schedule.shape == (steps, 2)
    np.testing.assert_array_equal(schedule[-1], target)
    if steps > 1:
        assert steps_of(current, schedule).max() <= kwargs["max_daily_change"] * (1 + 1e-9)


def test_the_worst_case_of_the_policy_bounds_is_the_limit():
    n = transition_step_count([1.0], [0.0], period_days=1, max_daily_change=1 / MAX_TRANSITION_STEPS, min_change=0)
    assert n == MAX_TRANSITION_STEPS == 260
