"""Rebalancing: one allocation run from request to funds moved, in one transaction.

``allocation_run_create`` locks the portfolio (a second rebalance of the same portfolio waits
for the first to commit, then starts from the funds as they are), loads the returns panel,
runs the engine, and writes the run, its lines, the transition schedule and its steps, applies
step 1 to the funds and appends the audit rows. A dry run does all the computing and writes
nothing. A run whose turnover exceeds the policy's approval threshold waits, moving nothing,
for a risk officer other than the requester (``allocation_run_approve``).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np
from django.db import transaction
from django.utils import timezone

from allocations import engine
from allocations.errors import ConflictError, DomainError
from allocations.models import (
    AllocationLine,
    AllocationPolicy,
    AllocationRun,
    AuditEntry,
    Portfolio,
    Sector,
    TransitionSchedule,
)
from allocations.selectors import policy_current

from . import inputs
from .actors import Actor
from .audit import AuditRecord, audit_append
from .bulk import bulk_insert
from .funds import MAX_AMOUNT
from .schedules import (
    amounts_for_weights,
    plan_for_run,
    schedule_create_and_apply_first,
    schedule_supersede_active,
)

MAX_KEY_LENGTH = 200


@dataclass
class RebalanceRequest:
    """The specification's AllocationRequest, plus ``dry_run`` and the idempotency key."""

    total_equity: Decimal | float | str | None = None
    sector_signals: list[dict] | None = None
    strategy_performance: dict[str, dict] | None = None
    force_rebalance: bool = False
    allocation_method: str | None = None
    dry_run: bool = False
    idempotency_key: str | None = None
    trigger: str = AllocationRun.Trigger.API
    run_date: object = None  # a date, for scheduled runs (one per portfolio per day)


@dataclass
class RebalanceOutcome:
    """What a rebalance decided: the specification's AllocationResponse plus the explanation."""

    run: AllocationRun | None
    allocation_id: str
    status: str
    current_allocation: dict[str, float]
    target_allocation: dict[str, float]
    transition_schedule: list[dict]
    explanation: dict = field(default_factory=dict)
    replayed: bool = False

    def to_response(self) -> dict:
        return {
            "allocation_id": self.allocation_id,
            "status": self.status,
            "current_allocation": self.current_allocation,
            "target_allocation": self.target_allocation,
            "transition_schedule": self.transition_schedule,
            "explanation": self.explanation,
        }


# --- validation ------------------------------------------------------------------------------


def _finite(value, *, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise DomainError(f"{field_name} must be a number, got {value!r}", field=field_name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DomainError(f"{field_name} must be a number, got {value!r}", field=field_name) from None
    if not math.isfinite(number):
        raise DomainError(f"{field_name} must be a finite number, got {value}", field=field_name)
    return number


def _equity(request: RebalanceRequest, portfolio: Portfolio) -> Decimal:
    if request.total_equity is None:
        equity = portfolio.total_equity
    else:
        _finite(request.total_equity, field_name="total_equity")
        try:
            equity = Decimal(str(request.total_equity))
        except InvalidOperation:
            raise DomainError("total_equity must be a number", field="total_equity") from None
    if equity <= 0:
        raise DomainError(f"total_equity must be greater than 0, got {equity}", field="total_equity")
    if equity >= MAX_AMOUNT:
        raise DomainError(f"total_equity is too large: {equity}", field="total_equity")
    return equity.quantize(Decimal("0.01"))


def _signals(request: RebalanceRequest, stored: dict[str, dict]) -> list[dict]:
    """Stored latest signals, overridden per sector by the request's."""
    merged = dict(stored)
    if request.sector_signals:
        if not isinstance(request.sector_signals, list):
            raise DomainError("sector_signals must be a list", field="sector_signals")
        known = set(Sector.objects.values_list("code", flat=True))
        for i, signal in enumerate(request.sector_signals):
            where = f"sector_signals[{i}]"
            if not isinstance(signal, dict):
                raise DomainError(f"{where} must be an object", field=where)
            sector = signal.get("sector")
            if sector not in known:
                raise DomainError(f"{where}.sector: unknown sector {sector!r}", field=f"{where}.sector")
            action = signal.get("action")
            if action not in engine.ACTIONS:
                raise DomainError(
                    f"{where}.action must be one of {', '.join(engine.ACTIONS)}, got {action!r}",
                    field=f"{where}.action",
                )
            confidence = _finite(signal.get("confidence", 1.0), field_name=f"{where}.confidence")
            if not 0 <= confidence <= 1:
                raise DomainError(
                    f"{where}.confidence must be in [0, 1], got {confidence}", field=f"{where}.confidence"
                )
            merged[sector] = {"sector": sector, "action": action, "confidence": confidence, "source": "request"}
    return list(merged.values())


def _overrides(request: RebalanceRequest, universe: inputs.Universe) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not request.strategy_performance:
        return None, None
    if not isinstance(request.strategy_performance, dict):
        raise DomainError("strategy_performance must be an object keyed by strategy code", field="strategy_performance")
    column = {code: j for j, code in enumerate(universe.codes)}
    sharpe = np.full(len(universe), np.nan)
    volatility = np.full(len(universe), np.nan)
    for code, metrics in request.strategy_performance.items():
        where = f"strategy_performance.{code}"
        if code not in column:
            raise DomainError(f"{where}: unknown or retired strategy {code!r}", field=where)
        if not isinstance(metrics, dict):
            raise DomainError(f"{where} must be an object with sharpe and/or volatility", field=where)
        unknown = set(metrics) - {"sharpe", "volatility", "returns"}
        if unknown:
            raise DomainError(f"{where}: unknown metric(s) {', '.join(sorted(unknown))}", field=where)
        if "sharpe" in metrics:
            sharpe[column[code]] = _finite(metrics["sharpe"], field_name=f"{where}.sharpe")
        if "volatility" in metrics:
            vol = _finite(metrics["volatility"], field_name=f"{where}.volatility")
            if vol <= 0:
                raise DomainError(f"{where}.volatility must be greater than 0, got {vol}", field=f"{where}.volatility")
            volatility[column[code]] = vol
    return sharpe, volatility


def _method(request: RebalanceRequest, policy: AllocationPolicy) -> str:
    method = request.allocation_method or policy.method
    if method not in engine.METHODS:
        raise DomainError(
            f"allocation_method must be one of {', '.join(engine.METHODS)}; got {method!r}", field="allocation_method"
        )
    return method


# --- the use case ----------------------------------------------------------------------------


def _by_code(codes: list[str], weights: np.ndarray) -> dict[str, float]:
    return {code: float(w) for code, w in zip(codes, weights, strict=True)}


def _explanation(result: engine.AllocationResult, universe: inputs.Universe, extra: dict) -> dict:
    plain = result.to_dict()
    stages = plain["stages"]
    per = plain["strategies"]
    strategies = {
        code: {
            "sector": universe.sectors[j],
            **{stage: values[j] for stage, values in stages.items()},
            "risk_contribution": per["risk_contribution"][j],
            "binding_limit": per["binding_limit"][j],
            "binding_amount": per["binding_amount"][j],
            "flags": [per["flags"][j]] if per["flags"][j] else [],
        }
        for j, code in enumerate(universe.codes)
    }
    return {**plain["explanation"], **extra, "strategies": strategies}


def allocation_run_create(*, portfolio: Portfolio, actor: Actor, request: RebalanceRequest) -> RebalanceOutcome:
    """Decide and (unless dry run or waiting for approval) start carrying out a rebalance."""
    if request.idempotency_key is not None and len(request.idempotency_key) > MAX_KEY_LENGTH:
        raise DomainError(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    if request.dry_run:
        # Reads only: no lock, no transaction needed beyond a consistent snapshot.
        with transaction.atomic():
            return _compute_and_write(portfolio=portfolio, actor=actor, request=request)
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
        if request.idempotency_key:
            existing = AllocationRun.objects.filter(
                portfolio=portfolio, idempotency_key=request.idempotency_key
            ).first()
            if existing is not None:
                outcome = allocation_run_outcome(run=existing)
                outcome.replayed = True
                return outcome
        return _compute_and_write(portfolio=portfolio, actor=actor, request=request)


def _compute_and_write(*, portfolio: Portfolio, actor: Actor, request: RebalanceRequest) -> RebalanceOutcome:
    policy = policy_current(portfolio=portfolio)
    if policy is None:
        raise DomainError(f"portfolio {portfolio.slug!r} has no allocation policy yet", field="policy")
    equity = _equity(request, portfolio)
    method = _method(request, policy)
    universe = inputs.universe_load(portfolio=portfolio)
    if len(universe) == 0:
        raise DomainError(f"portfolio {portfolio.slug!r} has no active strategies", field="strategies")
    signals = _signals(request, inputs.latest_signals(portfolio=portfolio, window_days=policy.signal_window_days))
    sharpe_override, volatility_override = _overrides(request, universe)
    window = max(policy.lookback_period, policy.covariance_lookback)
    dates, panel = inputs.returns_panel(universe=universe, window=window)
    amounts = inputs.fund_amounts(portfolio=portfolio)
    current, basis = inputs.current_weights(universe=universe, amounts=amounts, equity=equity)
    previous = inputs.previous_momentum(portfolio=portfolio, universe=universe)
    engine_policy = inputs.engine_policy(policy, method=method)
    try:
        result = engine.allocate(
            panel,
            universe.sectors,
            policy=engine_policy,
            current_weights=current,
            signals=[{k: s[k] for k in ("sector", "action", "confidence")} for s in signals],
            previous=previous,
            budgets=universe.budgets,
            force_rebalance=bool(request.force_rebalance),
            sharpe_override=sharpe_override,
            volatility_override=volatility_override,
        )
    except engine.InsufficientDataError as exc:
        raise DomainError(str(exc), field="returns") from None
    except engine.EngineError as exc:
        raise DomainError(str(exc), field="request") from None

    target = result.target_weights
    turnover = float(np.abs(target - current).sum())
    digest = inputs.inputs_digest(
        policy.pk,
        method,
        str(equity),
        universe.ids,
        [d.isoformat() for d in dates],
        np.nan_to_num(panel, nan=-9.0),
        current,
        sorted((s["sector"], s["action"], s["confidence"]) for s in signals),
        sharpe_override,
        volatility_override,
        bool(request.force_rebalance),
    )
    extra = {
        "equity": str(equity),
        "weight_basis": basis,
        "returns_window": {
            "first": dates[0].isoformat() if dates else None,
            "last": dates[-1].isoformat() if dates else None,
            "days": len(dates),
        },
        "signals": signals,
        "approval_threshold": policy.approval_threshold,
        "policy_version": policy.version,
        "inputs_digest": digest,
    }
    explanation = _explanation(result, universe, extra)
    current_by_code = _by_code(universe.codes, current)
    target_by_code = _by_code(universe.codes, target)

    needs_approval = turnover > policy.approval_threshold + 1e-12
    below_threshold = (
        request.trigger == AllocationRun.Trigger.SCHEDULE
        and not request.force_rebalance
        and turnover < policy.force_rebalance_threshold
    )
    if request.dry_run:
        planned = inputs.business_days_from(timezone.localdate(), result.schedule.shape[0])
        return RebalanceOutcome(
            run=None,
            allocation_id=str(uuid.uuid4()),
            status=AllocationRun.Status.COMPUTED,
            current_allocation=current_by_code,
            target_allocation=target_by_code,
            transition_schedule=[
                {
                    "step": k + 1,
                    "due_date": day.isoformat(),
                    "status": "planned",
                    "weights": _by_code(universe.codes, row),
                }
                for k, (day, row) in enumerate(zip(planned, result.schedule, strict=True))
            ],
            explanation={**explanation, "dry_run": True, "would_need_approval": needs_approval},
        )

    if below_threshold:
        status = AllocationRun.Status.NO_OP
    elif needs_approval:
        status = AllocationRun.Status.PENDING_APPROVAL
    else:
        status = AllocationRun.Status.APPLIED
    run = AllocationRun.objects.create(
        portfolio=portfolio,
        policy=policy,
        method=method,
        trigger=request.trigger,
        requested_by=actor.user,
        requested_via=actor.label[:100],
        run_date=request.run_date,
        idempotency_key=request.idempotency_key or None,
        inputs_digest=digest,
        total_equity=equity,
        force_rebalance=bool(request.force_rebalance),
        status=status,
        turnover=min(turnover, 2.0),
        cash_weight=min(max(float(result.cash), 0.0), 1.0),
        ex_ante_volatility=explanation["ex_ante_volatility"],
        effective_strategies=explanation["effective_number_of_strategies"],
        explanation=explanation,
    )
    _write_lines(run=run, universe=universe, result=result, current=current, equity=equity)
    audit_append(
        portfolio=portfolio,
        actor=actor,
        record=AuditRecord(
            kind=AuditEntry.Kind.RUN_CREATED,
            run_id=run.pk,
            reason=f"rebalance requested ({request.trigger})",
            payload={
                "allocation_id": str(run.public_id),
                "method": method,
                "status": status,
                "turnover": round(turnover, 12),
                "equity": str(equity),
                "inputs_digest": digest,
            },
        ),
    )
    if status == AllocationRun.Status.APPLIED:
        schedule_supersede_active(portfolio=portfolio, actor=actor, by_run=run)
        schedule_create_and_apply_first(
            run=run, universe_ids=universe.ids, steps=result.schedule, current=current, amounts=amounts, actor=actor
        )
    return allocation_run_outcome(run=run)


def _write_lines(
    *, run: AllocationRun, universe, result: engine.AllocationResult, current: np.ndarray, equity: Decimal
) -> None:
    target_amounts = amounts_for_weights(result.target_weights, equity)
    momentum = np.where(np.isnan(result.momentum_weights), None, result.momentum_weights).tolist()
    risk = np.nan_to_num(result.risk_contributions, nan=0.0).tolist()
    current = np.clip(current, 0.0, 1.0).tolist()
    target = np.clip(result.target_weights, 0.0, 1.0).tolist()
    base, signal, smoothed = (a.tolist() for a in (result.base_weights, result.signal_weights, result.smoothed_weights))
    excess = result.binding_amount.tolist()
    bulk_insert(
        AllocationLine,
        [
            {
                "run_id": run.pk,
                "strategy_id": int(universe.ids[j]),
                "current_weight": current[j],
                "base_weight": base[j],
                "signal_weight": signal[j],
                "smoothed_weight": smoothed[j],
                "target_weight": target[j],
                "target_amount": target_amounts[j],
                "momentum_weight": momentum[j],
                "risk_contribution": risk[j],
                "binding_limit": str(result.binding_limit[j]),
                "limit_excess": excess[j],
                "flags": [str(result.flags[j])] if result.flags[j] else [],
            }
            for j in range(len(universe))
        ],
    )


def allocation_run_outcome(*, run: AllocationRun) -> RebalanceOutcome:
    """The outcome of a stored run, as the rebalance answered it (and as retries replay it)."""
    lines = list(run.lines.select_related("strategy").order_by("strategy_id"))
    codes = {line.strategy_id: line.strategy.code for line in lines}
    steps = []
    schedule = TransitionSchedule.objects.filter(run=run).first()
    if schedule is not None:
        for step in schedule.steps.order_by("index"):
            steps.append(
                {
                    "step": step.index,
                    "due_date": step.due_date.isoformat(),
                    "status": step.status,
                    "weights": {codes.get(int(sid), sid): w for sid, w in step.weights.items()},
                }
            )
    if schedule is None and run.status == AllocationRun.Status.PENDING_APPROVAL:
        steps = _planned_steps(run, lines, codes)
    return RebalanceOutcome(
        run=run,
        allocation_id=str(run.public_id),
        status=run.status,
        current_allocation={codes[line.strategy_id]: line.current_weight for line in lines},
        target_allocation={codes[line.strategy_id]: line.target_weight for line in lines},
        transition_schedule=steps,
        explanation=run.explanation,
    )


def _planned_steps(run: AllocationRun, lines: list[AllocationLine], codes: dict[int, str]) -> list[dict]:
    """The steps a pending run would take from the weights it saw (approval re-plans from the funds then)."""
    plan = plan_for_run(
        run, np.array([line.current_weight for line in lines]), np.array([line.target_weight for line in lines])
    )
    ordered = [codes[line.strategy_id] for line in lines]
    days = inputs.business_days_from(timezone.localdate(), plan.shape[0])
    return [
        {"step": k + 1, "due_date": day.isoformat(), "status": "planned", "weights": _by_code(ordered, row)}
        for k, (day, row) in enumerate(zip(days, plan, strict=True))
    ]


# --- four eyes -------------------------------------------------------------------------------


def _lock_pending(run: AllocationRun) -> AllocationRun:
    Portfolio.objects.select_for_update().filter(pk=run.portfolio_id).values_list("pk", flat=True).get()
    run = AllocationRun.objects.select_for_update().get(pk=run.pk)
    if run.status != AllocationRun.Status.PENDING_APPROVAL:
        raise ConflictError(f"run {run.public_id} is {run.status}, not pending approval", field="status")
    return run


def allocation_run_approve(*, run: AllocationRun, actor: Actor, reason: str = "") -> AllocationRun:
    """A second risk officer approves a run: it is planned from the funds as they are now and step 1 applied."""
    from .schedules import plan_from_current_funds

    with transaction.atomic():
        run = _lock_pending(run)
        if actor.user is None or (run.requested_by_id is not None and actor.user.pk == run.requested_by_id):
            raise ConflictError(
                "four eyes: the run must be approved by someone other than its requester", field="approved_by"
            )
        portfolio = run.portfolio
        universe_ids, steps, current, amounts = plan_from_current_funds(run=run)
        run.status = AllocationRun.Status.APPLIED
        run.decided_by = actor.user
        run.decided_at = timezone.now()
        run.decision_reason = reason
        run.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(
                kind=AuditEntry.Kind.RUN_APPROVED,
                run_id=run.pk,
                reason=reason,
                payload={"allocation_id": str(run.public_id), "steps": int(steps.shape[0])},
            ),
        )
        schedule_supersede_active(portfolio=portfolio, actor=actor, by_run=run)
        schedule_create_and_apply_first(
            run=run, universe_ids=universe_ids, steps=steps, current=current, amounts=amounts, actor=actor
        )
    return run


def allocation_run_reject(*, run: AllocationRun, actor: Actor, reason: str) -> AllocationRun:
    """Reject a run waiting for approval; no fund moves."""
    if not reason or not str(reason).strip():
        raise DomainError("a reason is required to reject a run", field="reason")
    with transaction.atomic():
        run = _lock_pending(run)
        run.status = AllocationRun.Status.REJECTED
        run.decided_by = actor.user
        run.decided_at = timezone.now()
        run.decision_reason = reason
        run.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_append(
            portfolio=run.portfolio,
            actor=actor,
            record=AuditRecord(
                kind=AuditEntry.Kind.RUN_REJECTED,
                run_id=run.pk,
                reason=reason,
                payload={"allocation_id": str(run.public_id)},
            ),
        )
    return run
