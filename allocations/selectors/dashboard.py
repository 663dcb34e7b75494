"""Reads of the dashboard: what each page and each chart's JSON shows, from the same rows as the API.

One function per page or chart (``portfolio_overview_list``, ``dashboard_summary``, ``allocation_snapshot``,
``allocation_history``, ``risk_panel``, ``schedule_timeline``, ``run_moves``, ``run_trail``), each saying
what it reads; the figures are the engine's and the performance API's, never computed a second way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Abs
from django.utils import timezone

from allocations import display, engine
from allocations.models import AllocationLine, AllocationRun, AuditEntry, Portfolio, Strategy, TransitionSchedule
from allocations.models.audit import audit_effective_time

from .funds import fund_total_capital
from .panels import fund_amounts, returns_panel

# The API's own helpers, so the dashboard's risk and metrics are the API's numbers (not a second formula).
from .performance import BACKTEST_DAYS, amounts_in_force, book_risk, path_metrics
from .policies import policy_current
from .portfolios import portfolio_list_for_user
from .runs import run_list, schedule_list

TOP_STRATEGIES = 10
RECENT_SCHEDULES = 6


def _run_brief(run: AllocationRun | None, zone: str | None = None) -> dict | None:
    if run is None:
        return None
    return {
        "allocation_id": str(run.public_id),
        "status": run.status,
        "status_text": display.status_words(run.status),
        "method": run.method,
        "trigger": run.trigger,
        "turnover": run.turnover,
        "created_at": run.created_at.isoformat(),
        "created_at_text": display.when(run.created_at, zone),
        "requested_by": run.requested_by.username if run.requested_by_id else run.requested_via,
    }


def _schedule_brief(schedule: TransitionSchedule | None) -> dict | None:
    if schedule is None:
        return None
    counts = dict(schedule.steps.values_list("status").annotate(n=Count("id")).order_by())
    next_step = schedule.steps.filter(status="pending").order_by("index").values_list("due_date", flat=True).first()
    return {
        "id": schedule.pk,
        "status": schedule.status,
        "status_text": display.status_words(schedule.status),
        "run": str(schedule.run.public_id),
        "steps": sum(counts.values()),
        "applied": counts.get("applied", 0),
        "next_due": next_step.isoformat() if next_step else None,
    }


def portfolio_overview(*, portfolio: Portfolio) -> dict:
    policy = policy_current(portfolio=portfolio)
    runs = run_list(portfolio=portfolio).defer("explanation")
    return {
        "slug": portfolio.slug,
        "name": portfolio.name,
        "currency": portfolio.base_currency,
        "total_equity": portfolio.total_equity,
        "capital": fund_total_capital(portfolio=portfolio),
        "method": policy.method if policy else None,
        "policy_version": policy.version if policy else None,
        "last_run": _run_brief(runs.first(), portfolio.timezone),
        "pending": [
            str(r)
            for r in runs.filter(status=AllocationRun.Status.PENDING_APPROVAL).values_list("public_id", flat=True)
        ],
        "active_schedule": _schedule_brief(
            schedule_list(portfolio=portfolio).defer("run__explanation").filter(status="active").first()
        ),
    }


def portfolio_overview_list(*, user) -> list[dict]:
    """Every portfolio ``user`` may view, with equity, method, last run, pending runs and active schedule."""
    return [portfolio_overview(portfolio=p) for p in portfolio_list_for_user(user=user)]


def dashboard_version(*, portfolio: Portfolio) -> int:
    """The id of the portfolio's last audit row: every change of funds, runs, policy or schedule appends one."""
    return AuditEntry.objects.filter(portfolio=portfolio).order_by("-id").values_list("id", flat=True).first() or 0


def dashboard_summary(*, portfolio: Portfolio) -> dict:
    """The few numbers the page polls; its ``version`` (the last audit row's) changes whenever anything
    of the portfolio changes, so the page refetches the charts only then."""
    overview = portfolio_overview(portfolio=portfolio)
    equity = portfolio.total_equity
    return {
        **overview,
        "version": dashboard_version(portfolio=portfolio),
        "total_equity": str(equity),
        "capital": str(overview["capital"]),
        "cash": str(equity - overview["capital"]),
    }


def run_in_force(*, portfolio: Portfolio, explanation: bool = False) -> AllocationRun | None:
    """The run whose target is in force: the active schedule's, else the newest applied run.

    A run waiting for approval is never the target: it moved nothing and may be rejected
    (``pending_run`` is its own read). Its explanation only if asked.
    """
    runs = run_list(portfolio=portfolio)
    runs = runs if explanation else runs.defer("explanation")
    active = runs.filter(schedule__status=TransitionSchedule.Status.ACTIVE).first()
    return active or runs.filter(status=AllocationRun.Status.APPLIED).first()


def pending_run(*, portfolio: Portfolio) -> AllocationRun | None:
    """The newest run waiting for a second risk officer: a proposal, shown apart from the target in force."""
    return (
        run_list(portfolio=portfolio).defer("explanation").filter(status=AllocationRun.Status.PENDING_APPROVAL).first()
    )


def _sharpe_etc(ids: np.ndarray, policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Annualised mean return, volatility and Sharpe per strategy, as the engine estimates them for a
    rebalance (``engine.return_stats`` over each strategy's last ``lookback_period`` observations of
    the window a run reads)."""
    nan = np.full(ids.size, np.nan)
    if not ids.size:
        return nan, nan, nan
    defaults = engine.AllocationPolicy()
    lookback = policy.lookback_period if policy else defaults.lookback
    window = max(lookback, policy.covariance_lookback if policy else defaults.covariance_lookback)
    dates, panel = returns_panel(ids=ids, window=window)
    if not dates:
        return nan, nan, nan
    stats = engine.return_stats(panel, lookback)
    return stats.mean * engine.TRADING_DAYS, stats.volatility, stats.sharpe


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def allocation_snapshot(*, portfolio: Portfolio) -> dict:
    """Per strategy: sector, status, current weight of equity, target weight, Sharpe, return, volatility."""
    rows = list(
        Strategy.objects.filter(portfolio=portfolio)
        .order_by("id")
        .values_list("id", "code", "name", "sector__code", "status")
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    amounts = fund_amounts(portfolio=portfolio)
    equity = float(portfolio.total_equity)
    current = np.array([float(amounts.get(int(i), 0)) for i in ids]) / equity if equity > 0 else np.zeros(ids.size)
    run, waiting = run_in_force(portfolio=portfolio), pending_run(portfolio=portfolio)
    targets = dict(run.lines.values_list("strategy_id", "target_weight")) if run else {}
    proposed = dict(waiting.lines.values_list("strategy_id", "target_weight")) if waiting else {}
    policy = policy_current(portfolio=portfolio)
    mean, vol, sharpe = _sharpe_etc(ids, policy)
    return {
        "target_run": _run_brief(run, portfolio.timezone),
        "pending_run": _run_brief(waiting, portfolio.timezone),
        "lookback": policy.lookback_period if policy else 30,
        "strategies": [
            {
                "code": code,
                "name": name,
                "sector": sector,
                "status": status,
                "current": float(current[j]),
                "target": targets.get(sid),
                "pending": proposed.get(sid),
                "sharpe": _finite(sharpe[j]),
                "return": _finite(mean[j]),
                "volatility": _finite(vol[j]),
            }
            for j, (sid, code, name, sector, status) in enumerate(rows)
        ],
    }


def allocation_history(*, portfolio: Portfolio, top: int = TOP_STRATEGIES, days: int = BACKTEST_DAYS) -> dict:
    """Weights in force on each of the last ``days`` return dates since capital was first allocated.

    ``w_{t,i}`` is the amount of strategy ``i`` at the start of date ``t`` (the last fund change
    before it) divided by the equity; sector exposure ``E_{t,s} = Σ_{i∈s} w_{t,i}``; the book's
    daily return ``r_t = Σ_i w_{t,i} R_{t,i}`` (a missing return counts as 0, as in the API's history).
    """
    rows = list(Strategy.objects.filter(portfolio=portfolio).order_by("id").values_list("id", "code", "sector__code"))
    empty = {
        "metrics": {"days": 0},
        "dates": [],
        "sectors": [],
        "sector_exposure": [],
        "strategies": [],
        "equity_curve": [],
        "drawdown": [],
    }
    first = (
        AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE)
        .annotate(at=audit_effective_time())
        .order_by("seq")
        .values_list("at", flat=True)
        .first()
    )
    policy = policy_current(portfolio=portfolio)
    empty["sector_cap"] = policy.max_sector_exposure if policy else None
    empty["currency"] = portfolio.base_currency
    if not rows or first is None:
        return empty
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    since = max(timezone.localtime(first).date(), timezone.localdate() - timedelta(days=days * 7 // 5 + 21))
    dates, panel = returns_panel(ids=ids, since=since)
    dates, panel = dates[-days:], panel[-days:]
    if not dates:
        return empty
    amounts = amounts_in_force(portfolio, ids, dates)
    held = np.flatnonzero(amounts.sum(axis=1) > 0)
    if held.size == 0:
        return empty
    start = int(held[0])
    dates, panel, amounts = dates[start:], panel[start:], amounts[start:]
    equity = float(portfolio.total_equity)
    weights = amounts / equity if equity > 0 else amounts / amounts.sum(axis=1, keepdims=True)
    sectors, sector_index = np.unique(np.array([r[2] for r in rows], dtype=object), return_inverse=True)
    onehot = np.zeros((ids.size, sectors.size))
    onehot[np.arange(ids.size), sector_index] = 1.0
    exposure = weights @ onehot
    largest = np.argsort(-weights[-1], kind="stable")[:top]
    returns = np.einsum("tn,tn->t", weights, np.nan_to_num(panel, nan=0.0))
    curve = np.cumprod(1.0 + returns)
    drawdown = curve / np.maximum.accumulate(curve) - 1.0
    metrics = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in path_metrics(returns, dates).items()}
    return {
        "metrics": metrics,
        "dates": [d.isoformat() for d in dates],
        "sectors": [str(s) for s in sectors],
        "sector_cap": empty["sector_cap"],
        "currency": portfolio.base_currency,
        "sector_exposure": np.round(exposure, 6).tolist(),  # T x S
        "strategies": [{"code": rows[j][1], "weights": np.round(weights[:, j], 6).tolist()} for j in largest],
        "equity_curve": np.round(curve * equity, 2).tolist(),
        "drawdown": np.round(drawdown, 6).tolist(),
    }


def risk_panel(*, portfolio: Portfolio, top: int = TOP_STRATEGIES) -> dict:
    """The API's risk figures (``GET .../allocation/performance``), the caps, and what bound the run in force."""
    policy = policy_current(portfolio=portfolio)
    rows = list(Strategy.objects.filter(portfolio=portfolio).order_by("id").values_list("id", "code"))
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    amounts = fund_amounts(portfolio=portfolio)
    equity = float(portfolio.total_equity)
    weights = np.array([float(amounts.get(int(i), 0)) for i in ids]) / equity if equity > 0 else np.zeros(ids.size)
    run = run_in_force(portfolio=portfolio, explanation=True)
    contributions, bound, binding = [], [], {}
    if run is not None:
        lines = run.lines.select_related("strategy")
        contributions = [
            {"strategy": line.strategy.code, "risk_contribution": line.risk_contribution, "weight": line.target_weight}
            for line in lines.order_by("-risk_contribution")[:top]
        ]
        bound = [
            {"strategy": line.strategy.code, "binding_limit": line.binding_limit, "excess": line.limit_excess}
            for line in lines.exclude(binding_limit="").order_by("-limit_excess")[:top]
        ]
        binding = dict(lines.exclude(binding_limit="").values_list("binding_limit").annotate(n=Count("id")).order_by())
    return {
        "risk": book_risk([r[1] for r in rows], ids, weights, policy),
        "caps": {
            "max_total_risk": policy.max_total_risk if policy else None,
            "max_sector": policy.max_sector_exposure if policy else None,
            "max_single_strategy": policy.max_single_strategy_exposure if policy else None,
        },
        "run": _run_brief(run, portfolio.timezone),
        "limits_removed": (run.explanation.get("limits") or {}).get("removed", {}) if run else {},
        "largest_risk_contributions": contributions,
        "bound_strategies": bound,
        "binding_counts": binding,
    }


def schedule_timeline(*, portfolio: Portfolio) -> dict:
    """The latest schedule's steps (done, due, superseded, cancelled) and the recent schedules."""
    schedules = list(schedule_list(portfolio=portfolio).defer("run__explanation")[:RECENT_SCHEDULES])
    latest = schedules[0] if schedules else None
    steps = []
    if latest is not None:
        steps = [
            {
                "index": s.index,
                "due_date": s.due_date.isoformat(),
                "status": s.status,
                "status_text": display.status_words(s.status),
                "applied_at": s.applied_at.isoformat() if s.applied_at else None,
                "applied_at_text": display.when(s.applied_at, portfolio.timezone) if s.applied_at else None,
                "applied_by": s.applied_by,
            }
            for s in latest.steps.defer("weights").order_by("index")
        ]
    return {
        "schedule": _schedule_brief(latest),
        "close_reason": latest.close_reason if latest else "",
        "steps": steps,
        "recent": [_schedule_brief(s) | {"created_at": s.created_at.isoformat()} for s in schedules],
    }


@dataclass(frozen=True)
class RunStages:
    """One strategy's weight at every stage of a run (the engine's explanation; the line as a fallback)."""

    code: str
    sector: str
    current: float
    base: float
    signals: float
    smoothing: float
    caps: float
    final: float
    move: float
    risk_contribution: float
    binding_limit: str
    limit_excess: float
    flags: list


def run_moves(*, run: AllocationRun) -> QuerySet[AllocationLine]:
    """The run's lines, largest move ``|target − current|`` first (paginate in the view)."""
    return (
        run.lines.select_related("strategy", "strategy__sector")
        .annotate(move=Abs(F("target_weight") - F("current_weight")))
        .order_by("-move", "strategy__code")
    )


def run_stages(*, run: AllocationRun, lines) -> list[RunStages]:
    explained = (run.explanation or {}).get("strategies") or {}
    out = []
    for line in lines:
        e = explained.get(line.strategy.code, {})
        out.append(
            RunStages(
                code=line.strategy.code,
                sector=line.strategy.sector.code if line.strategy.sector_id else "",
                current=line.current_weight,
                base=e.get("base", line.base_weight),
                signals=e.get("after_signals", line.signal_weight),
                smoothing=e.get("after_smoothing", line.smoothed_weight),
                caps=e.get("after_caps", line.target_weight),
                final=e.get("final", line.target_weight),
                move=line.target_weight - line.current_weight,
                risk_contribution=line.risk_contribution,
                binding_limit=line.binding_limit,
                limit_excess=line.limit_excess,
                flags=list(line.flags or []),
            )
        )
    return out


def run_trail(*, run: AllocationRun) -> QuerySet[AuditEntry]:
    """The run's decisions (created, approved, rejected, superseded) in chain order; fund moves left out."""
    return (
        AuditEntry.objects.filter(Q(run=run), portfolio_id=run.portfolio_id)
        .exclude(kind=AuditEntry.Kind.FUND_CHANGE)
        .select_related("actor")
        .order_by("seq")
    )
