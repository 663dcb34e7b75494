"""The two conversions at the engine's boundary, pure: no queries, no writes.

- rows -> engine inputs: ``engine_policy``, ``plan_for_policy``, ``inputs_digest``;
- engine result -> rows to write: ``by_code``, ``planned_steps``, ``planned_steps_from``, ``run_explanation``.

Amounts to the cent are ``money``'s, business days ``calendar``'s, stored forms' codecs ``models.fields``'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np

from allocations import engine
from allocations.calendar import business_days_from
from allocations.models.fields import (
    STRATEGY_COLUMNS,
    CompactExplanationField,  # noqa: F401 (migration 0010 names this path)
    CompactStepWeightsField,  # noqa: F401 (migration 0014 names this path)
    packed_array,
)
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
        columns[name] = packed_array(values)
    columns["risk_contribution"] = packed_array(result.risk_contributions)
    columns["binding_limit"] = [str(v) for v in result.binding_limit.tolist()]
    columns["binding_amount"] = packed_array(result.binding_amount)
    columns["flags"] = [[flag] if flag else [] for flag in map(str, result.flags.tolist())]
    facts = {key: value for key, value in result.to_dict_explanation().items() if key != "strategies"}
    return {**facts, **extra, STRATEGY_COLUMNS: columns}
