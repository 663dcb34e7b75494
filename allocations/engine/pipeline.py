r"""One allocation run, from the returns to the target weights and the schedule.

The stages: validate -> estimate -> base weights -> signals -> smoothing -> limits ->
transition -> explain.

:func:`allocate` is a short orchestrator over the stage functions of
:mod:`~allocations.engine.inputs` (validate), :mod:`~allocations.engine.estimate` (estimates,
held strategies and flags), :mod:`~allocations.engine.registry` (the method, by name) and
:mod:`~allocations.engine.stages` (the rest). It takes arrays and engine dataclasses, returns
an :class:`AllocationResult` and never touches the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import stages
from .estimate import estimate
from .inputs import validate
from .laps import LapClock
from .policy import AllocationPolicy, SectorSignal
from .registry import MethodContext
from .result import FLAGS, STAGES, AllocationResult

__all__ = ["FLAGS", "STAGES", "AllocationResult", "allocate"]


def allocate(
    returns,
    sectors: Sequence[str],
    *,
    policy: AllocationPolicy | None = None,
    current_weights=None,
    signals: Sequence[SectorSignal] = (),
    previous=None,
    budgets=None,
    force_rebalance: bool = False,
    sharpe_override=None,
    volatility_override=None,
    age_days=None,
) -> AllocationResult:
    r"""Run every stage of one allocation.

    Parameters
    ----------
    returns : array-like, shape (T, N)
        Daily returns, rows oldest to newest; NaN = no observation that day; ±inf is an error.
    sectors : sequence of str, length N
    policy : AllocationPolicy, optional
        Defaults to ``AllocationPolicy()``.
    current_weights : array-like (N,), optional
        Current funds as fractions of equity (default zeros); ``>= 0``, sum ``<= 1``.
    signals : sequence of SectorSignal (or mappings with sector/action/confidence)
        Latest signal per sector; for a repeated sector the last wins; unknown sectors are
        ignored and listed in ``explanation["ignored_signals"]``.
    previous : array-like (N,), optional
        The previous run's ``momentum_weights``; NaN = strategy not in that run.
    budgets : array-like (N,), optional
        Positive risk budgets for ``risk_parity`` (and the risk-parity half of ``hybrid``) and
        ``hrp`` (see :mod:`~allocations.engine.hrp`).
    force_rebalance : bool
        Apply the target in one step.
    sharpe_override, volatility_override : array-like (N,), optional
        Per-strategy annualised Sharpe / volatility to use instead of the estimates (NaN =
        use the returns). A volatility override rescales the covariance
        :math:`\Sigma \leftarrow D\Sigma D` so that its diagonal matches, keeping correlations.
        Overrides do not make a strategy without history estimable; a volatility override
        gives such a held strategy a variance (no correlation) in the book's risk.
    age_days : array-like (N,), optional
        Business days since each strategy's last return, as of the run date; a strategy older
        than ``policy.stale_after_days`` is held and flagged ``"stale"``. Default: the number of
        trailing rows of ``returns`` without an observation, per column.

    Returns
    -------
    AllocationResult

    Raises
    ------
    InvalidInputError, InvalidPolicyError, InsufficientDataError
        A risk-parity failure is not raised: the run falls back to budgeted inverse
        volatility and records it in ``explanation["fallbacks"]``.

    Notes
    -----
    Fallbacks, recorded in ``explanation["fallbacks"]``:

    - the risk-parity solve fails -> budgeted inverse volatility :math:`w_i \propto \sqrt{b_i}/\sigma_i`
      (plain inverse volatility without budgets);
    - every Sharpe ratio is non-positive or undefined -> equal Sharpe weights (the
      specification's rule).
    """
    clock = LapClock()
    inputs = validate(
        returns,
        sectors,
        policy=policy,
        current_weights=current_weights,
        signals=signals,
        previous=previous,
        budgets=budgets,
        sharpe_override=sharpe_override,
        volatility_override=volatility_override,
        age_days=age_days,
    )
    clock.lap("validate")
    est = estimate(inputs)
    ctx = MethodContext(inputs, est)
    clock.lap("estimate")
    chain = stages.base_weights(ctx)
    clock.lap("base")
    stages.signals(ctx, chain)
    clock.lap("signals")
    stages.smoothing(ctx, chain)
    base, signalled, smoothed = (stages.spread(inputs, est, d) for d in stages.stage_distributions(chain))
    clock.lap("smoothing")
    limit = stages.limits(inputs, est, smoothed)
    target = limit.weights
    clock.lap("limits")
    schedule = stages.transition(inputs, target, force_rebalance)
    clock.lap("transition")
    risk_contributions, explanation = stages.explain(ctx, chain, limit, target, schedule, force_rebalance)
    clock.lap("explain")
    timings = clock.ms
    timings["weights"] = timings["base"] + timings["signals"] + timings["smoothing"]
    momentum = stages.spread_momentum(inputs, est, chain.momentum)
    return AllocationResult(
        target_weights=target,
        cash=explanation["cash"],
        schedule=schedule,
        base_weights=base,
        signal_weights=signalled,
        smoothed_weights=smoothed,
        capped_weights=limit.capped_weights,
        momentum_weights=momentum,
        risk_contributions=risk_contributions,
        binding_limit=limit.binding_limit,
        binding_amount=limit.binding_amount,
        removed_by_limit=limit.removed,
        flags=est.flags,
        explanation={"timings_ms": timings, **explanation},
    )
