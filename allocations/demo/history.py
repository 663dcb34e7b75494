"""The demo's lived history: business days of steps, returns, daily runs and decisions, in the order they happen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
from django.contrib.auth import get_user_model

from accounts import roles
from accounts.services import portfolio_grant
from allocations import clock
from allocations.errors import DomainError
from allocations.models import AllocationRun, Portfolio
from allocations.selectors.runs import run_list, schedule_list
from allocations.services.actors import Actor
from allocations.services.approvals import allocation_run_approve, allocation_run_reject
from allocations.services.policies import policy_create_version, policy_proposal_approve, policy_set_method
from allocations.services.run_inputs import RebalanceRequest
from allocations.services.runs import allocation_run_create
from allocations.services.schedules import transition_schedule_cancel, transition_step_apply, transition_steps_due

from .returns import returns_create
from .world import ACTOR, SECTORS, signals_create

BEAT = Actor.system("beat:daily-rebalance")
STEPS = Actor.system("beat:transition-steps")
HISTORY_DAYS = 120  # business days of daily runs behind the demo portfolio (``seed_demo``'s default)


@contextmanager
def on_day(portfolio: Portfolio, day: date, at: time) -> Iterator[None]:
    """Changes take effect on ``day`` at ``at`` in the portfolio's zone (``clock.effective``).

    The history is written by the same services as live traffic, in the order it would have
    happened; the services read "now" and "today" from ``allocations.clock``, and each audit row
    keeps the database's ``recorded_at`` beside that ``effective_at``, so the audit chain, the runs'
    dates and the performance history agree with one another and none claims to be recorded then.
    """
    with clock.effective(datetime.combine(day, at, tzinfo=ZoneInfo(portfolio.timezone))):
        yield


def live_history(portfolio: Portfolio, ids: list[int], days: list[date], values: np.ndarray, seed: int) -> None:
    """Live ``days`` one by one: due steps at 09:30, returns at 18:00, the daily rebalance at 18:30.

    Along the way the risk officers change the method twice, signals change every few weeks, a
    portfolio manager's large rebalance is rejected, another approved by a second officer, and a
    schedule is cancelled: every kind of event the dashboard shows.
    """
    rng = np.random.default_rng(seed + 100)
    users = {user.username: user for user in get_user_model().objects.filter(username__in=["risk", "risk2", "pm"])}
    risk = Actor.of_user(users["risk"], via="web") if "risk" in users else ACTOR
    risk2 = Actor.of_user(users["risk2"], via="web") if "risk2" in users else ACTOR
    pm = Actor.of_user(users["pm"], via="web") if "pm" in users else ACTOR
    for officer in (risk, risk2):  # they decide its policy in the history: risk officers of it from the start
        if officer.user is not None:
            portfolio_grant(user=officer.user, portfolio=portfolio, role=roles.RISK_OFFICER)
    n = len(days)
    methods = {n // 3: ("inverse_volatility", risk), (2 * n) // 3: ("hybrid", risk2)}
    cancelled = False
    for t, day in enumerate(days):
        with on_day(portfolio, day, time(9, 0)):  # last evening's run waiting for four eyes: a risk officer decides
            waiting = run_list(portfolio=portfolio).filter(status=AllocationRun.Status.PENDING_APPROVAL).first()
            if waiting is not None:
                allocation_run_approve(run=waiting, actor=(risk, risk2)[t % 2], reason="demo: daily review")
        with on_day(portfolio, day, time(9, 30)):
            for step_id in transition_steps_due(today=day):
                transition_step_apply(step_id=step_id, actor=STEPS)
            if t in methods:  # one risk officer proposes, the other approves (four eyes on a method change)
                method, actor = methods[t]
                if actor.user is None:  # no demo users: the seed itself sets it, as an operator would
                    policy_create_version(portfolio=portfolio, actor=actor, changes={"method": method})
                else:
                    change = policy_set_method(
                        portfolio=portfolio, method=method, actor=actor, reason=f"demo: switch to {method}"
                    )
                    if change.proposal is not None:
                        policy_proposal_approve(
                            proposal=change.proposal, actor=risk2 if actor is risk else risk, reason="demo: agreed"
                        )
            if t % 15 == 7:
                drawn = [
                    (code, str(rng.choice(["BUY", "SELL", "HOLD"])), round(float(rng.uniform(0.3, 0.95)), 2))
                    for code, _ in rng.choice(SECTORS, size=2, replace=False)
                ]
                signals_create(portfolio, drawn, source="demo")
        with on_day(portfolio, day, time(18, 0)):
            returns_create(portfolio, ids, [day], values[t : t + 1])
        with on_day(portfolio, day, time(18, 30)):
            _daily_run(portfolio, day)
        if t in (n // 2, n - 10, n - 1):  # a manager's large request: rejected, approved, and one left waiting
            with on_day(portfolio, day, time(19, 0)):
                run = _manager_request(portfolio, pm)
            if run is not None and t != n - 1:
                with on_day(portfolio, day, time(19, 30)):
                    if t == n // 2:
                        allocation_run_reject(run=run, actor=risk, reason="demo: too much turnover before month end")
                    else:
                        allocation_run_approve(run=run, actor=risk2, reason="demo: checked the moves")
        if t >= n - 20 and not cancelled:
            active = schedule_list(portfolio=portfolio).filter(status="active").first()
            if active is not None:
                cancelled = True
                with on_day(portfolio, day, time(19, 45)):
                    transition_schedule_cancel(schedule=active, actor=risk, reason="demo: paused during the audit")


def _daily_run(portfolio: Portfolio, day: date) -> None:
    request = RebalanceRequest(trigger=AllocationRun.Trigger.SCHEDULE, run_date=day)
    try:
        allocation_run_create(portfolio=portfolio, actor=BEAT, request=request)
    except DomainError:  # a day the engine refuses is a failed day in real life too; the next one runs
        pass


def _manager_request(portfolio: Portfolio, pm: Actor) -> AllocationRun | None:
    """A rebalance by another method whose turnover is large enough to wait for approval, if any is."""
    for method in ("equal_weight", "momentum", "performance_weighted", "inverse_volatility"):
        preview = allocation_run_create(
            portfolio=portfolio, actor=pm, request=RebalanceRequest(allocation_method=method, dry_run=True)
        )
        if preview.explanation.get("would_need_approval"):
            outcome = allocation_run_create(
                portfolio=portfolio,
                actor=pm,
                request=RebalanceRequest(allocation_method=method, trigger=AllocationRun.Trigger.DASHBOARD),
            )
            return outcome.run
    return None
