"""Demo data: portfolios with synthetic strategy returns, signals, funds, and one user per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts import roles
from accounts.services import portfolio_grant, roles_ensure, user_ensure
from allocations import clock
from allocations.errors import DomainError
from allocations.models import AllocationRun, Portfolio, Sector, Strategy, StrategyReturn
from allocations.selectors.panels import returns_snapshot_get
from allocations.selectors.runs import run_list, schedule_list

from .actors import Actor
from .approvals import allocation_run_approve, allocation_run_reject
from .funds import CENT, funds_set_many
from .policies import policy_create_version, policy_proposal_approve, policy_set_method
from .returns_snapshot import returns_snapshot_merge
from .run_inputs import RebalanceRequest
from .runs import allocation_run_create
from .schedules import transition_schedule_cancel, transition_step_apply, transition_steps_due
from .signals import signal_create

SECTORS = [
    ("technology", "Technology"),
    ("financials", "Financials"),
    ("healthcare", "Healthcare"),
    ("energy", "Energy"),
    ("consumer", "Consumer"),
    ("industrials", "Industrials"),
    ("utilities", "Utilities"),
    ("crypto", "Cryptocurrency"),
]
DEMO_USERS = [
    ("admin", roles.ADMINISTRATOR),
    ("risk", roles.RISK_OFFICER),
    ("risk2", roles.RISK_OFFICER),
    ("pm", roles.PORTFOLIO_MANAGER),
    ("viewer", roles.VIEWER),
    ("integration", roles.INTEGRATION),
]
DEMO_SIGNALS = (("technology", "BUY", 0.8), ("energy", "SELL", 0.6), ("healthcare", "HOLD", 0.5))
ACTOR = Actor.command("seed_demo")
BEAT = Actor.system("beat:daily-rebalance")
STEPS = Actor.system("beat:transition-steps")
HISTORY_DAYS = 120  # business days of daily runs behind the demo portfolio (``seed_demo``'s default)
MIN_LOOKBACK = 60  # returns kept before the history starts, so its first run has a full window


@dataclass
class SeedReport:
    portfolios: dict[str, str] = field(default_factory=dict)
    users: list[tuple[str, str, bool]] = field(default_factory=list)


def business_days(end: date, count: int) -> list[date]:
    """The ``count`` weekdays up to and including ``end`` (or the weekday before it), oldest first."""
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def synthetic_returns(n_strategies: int, n_days: int, sector_of: np.ndarray, seed: int) -> np.ndarray:
    """Daily returns (T x N) with a market factor, a factor per sector and idiosyncratic noise.

    r_it = beta_i m_t + gamma_i f_{s(i),t} + e_it, with annual drifts between -5 % and +15 % and
    volatilities between about 8 % and 40 %: enough structure for risk parity to differ from
    inverse volatility and for sector signals to matter.
    """
    rng = np.random.default_rng(seed)
    n_sectors = int(sector_of.max()) + 1
    market = rng.normal(0.0003, 0.008, size=(n_days, 1))
    sector_factors = rng.normal(0.0, 0.006, size=(n_days, n_sectors))
    beta = rng.uniform(0.2, 1.2, size=n_strategies)
    gamma = rng.uniform(0.5, 1.5, size=n_strategies)
    idio_vol = rng.uniform(0.004, 0.02, size=n_strategies)
    drift = rng.uniform(-0.05, 0.15, size=n_strategies) / 252
    noise = rng.standard_normal((n_days, n_strategies)) * idio_vol
    returns = drift + market * beta + sector_factors[:, sector_of] * gamma + noise
    return np.clip(returns, -0.5, 0.5)


def _seed_portfolio(
    *,
    slug: str,
    name: str,
    n_strategies: int,
    n_days: int,
    seed: int,
    equity: Decimal,
    now: datetime | None,
    history_days: int = 0,
) -> str:
    """Create one demo portfolio unless it already has strategies; returns what was done.

    ``now`` is the moment the demo is seeded at (None: the wall clock): the returns end the day before it. With
    ``history_days`` the last that many business days are lived through (``_live_history``): the
    returns of each day arrive that evening and the daily rebalance runs, all through the services,
    and the initial policy, signals and funds take effect at 08:00 of the first of those days.
    Without history they take effect at ``now`` (never later: nothing is written from the future).
    """
    history_days = max(0, min(history_days, n_days - MIN_LOOKBACK))
    with transaction.atomic():
        portfolio, _ = Portfolio.objects.get_or_create(
            slug=slug, defaults={"name": name, "total_equity": equity, "base_currency": "USD"}
        )
        if portfolio.strategies.exists():
            return "already there, left unchanged"
        sectors = [Sector.objects.get_or_create(code=code, defaults={"name": label})[0] for code, label in SECTORS]
        sector_of = np.arange(n_strategies) % len(sectors)
        strategies = Strategy.objects.bulk_create(
            [
                Strategy(
                    portfolio=portfolio,
                    code=f"{sectors[s].code[:4]}-{i + 1:04d}",
                    name=f"{sectors[s].name} strategy {i + 1}",
                    sector=sectors[s],
                    asset_class="crypto" if sectors[s].code == "crypto" else "equity",
                )
                for i, s in enumerate(sector_of)
            ]
        )
        if not all(s.pk for s in strategies):  # databases without RETURNING
            strategies = list(Strategy.objects.filter(portfolio=portfolio).order_by("id"))
        ids = [s.pk for s in strategies]
        today = timezone.localtime(now or timezone.now(), ZoneInfo(portfolio.timezone)).date()
        days = business_days(today - timedelta(days=1), n_days)
        values = synthetic_returns(n_strategies, n_days, sector_of, seed)
        before = n_days - history_days
        _returns_create(portfolio, ids, days[:before], values[:before])
        each = (equity / n_strategies).quantize(CENT, rounding=ROUND_FLOOR)  # never above the equity
        with _clock(portfolio, days[before], time(8, 0)) if history_days else _at(now):
            _signals_create(portfolio, DEMO_SIGNALS, source="seed_demo")
            policy_create_version(portfolio=portfolio, actor=ACTOR, reason="initial policy (specification defaults)")
            funds_set_many(
                portfolio=portfolio,
                amounts={s.pk: each for s in strategies},
                actor=ACTOR,
                reason="initial demo allocation: equal weights",
            )
        if history_days:
            _live_history(portfolio, ids, days[before:], values[before:], seed)
    done = f"created: {n_strategies} strategies, {n_days} days of returns, funds of {each} each"
    return done + (f", {history_days} business days of daily runs" if history_days else "")


def _signals_create(portfolio: Portfolio, signals, *, source: str) -> None:
    """One signal per (sector code, action, confidence), pushed by the demo's actor."""
    for code, action, confidence in signals:
        signal_create(
            portfolio=portfolio, actor=ACTOR, sector=code, action=action, confidence=confidence, source=source
        )


def _returns_create(portfolio: Portfolio, ids: list[int], days: list[date], values: np.ndarray) -> None:
    """The returns ``values`` (days x ids) as rows, and the portfolio's snapshot kept with them as the
    ingestion services keep it (the rows' trigger drops it; it is stored again, merged)."""
    before = returns_snapshot_get(portfolio_id=portfolio.pk)
    StrategyReturn.objects.bulk_create(
        (
            StrategyReturn(strategy_id=sid, date=day, value=float(values[t, j]))
            for j, sid in enumerate(ids)
            for t, day in enumerate(days)
        ),
        batch_size=5000,
    )
    grid_days, grid_ids = np.meshgrid([d.toordinal() for d in days], ids, indexing="ij")
    returns_snapshot_merge(
        portfolio=portfolio,
        before=before,
        strategy_ids=grid_ids.ravel(),
        days=grid_days.ravel(),
        values=np.asarray(values, dtype=float).ravel(),
    )


@contextmanager
def _clock(portfolio: Portfolio, day: date, at: time) -> Iterator[None]:
    """Changes take effect on ``day`` at ``at`` in the portfolio's zone (``clock.effective``).

    The history is written by the same services as live traffic, in the order it would have
    happened; the services read "now" and "today" from ``allocations.clock``, and each audit row
    keeps the database's ``recorded_at`` beside that ``effective_at``, so the audit chain, the runs'
    dates and the performance history agree with one another and none claims to be recorded then.
    """
    with clock.effective(datetime.combine(day, at, tzinfo=ZoneInfo(portfolio.timezone))):
        yield


def _at(now: datetime | None):
    """Changes take effect at ``now``, an earlier moment a caller chose, or (None) as they are written."""
    return nullcontext() if now is None else clock.effective(now)


def _live_history(portfolio: Portfolio, ids: list[int], days: list[date], values: np.ndarray, seed: int) -> None:
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
        with _clock(portfolio, day, time(9, 0)):  # last evening's run waiting for four eyes: a risk officer decides
            waiting = run_list(portfolio=portfolio).filter(status=AllocationRun.Status.PENDING_APPROVAL).first()
            if waiting is not None:
                allocation_run_approve(run=waiting, actor=(risk, risk2)[t % 2], reason="demo: daily review")
        with _clock(portfolio, day, time(9, 30)):
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
                _signals_create(portfolio, drawn, source="demo")
        with _clock(portfolio, day, time(18, 0)):
            _returns_create(portfolio, ids, [day], values[t : t + 1])
        with _clock(portfolio, day, time(18, 30)):
            _daily_run(portfolio, day)
        if t in (n // 2, n - 10, n - 1):  # a manager's large request: rejected, approved, and one left waiting
            with _clock(portfolio, day, time(19, 0)):
                run = _manager_request(portfolio, pm)
            if run is not None and t != n - 1:
                with _clock(portfolio, day, time(19, 30)):
                    if t == n // 2:
                        allocation_run_reject(run=run, actor=risk, reason="demo: too much turnover before month end")
                    else:
                        allocation_run_approve(run=run, actor=risk2, reason="demo: checked the moves")
        if t >= n - 20 and not cancelled:
            active = schedule_list(portfolio=portfolio).filter(status="active").first()
            if active is not None:
                cancelled = True
                with _clock(portfolio, day, time(19, 45)):
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


def demo_seed(
    *,
    slug: str = "demo",
    strategies: int = 40,
    days: int = 504,
    seed: int = 7,
    password: str = "demo",
    history_days: int = 0,
    now: datetime | None = None,
) -> SeedReport:
    """Seed the demo portfolio(s) and users. Running it again changes nothing.

    ``now`` is the demo's clock: the moment it is seeded at (default: the wall clock; never later).
    ``history_days`` business days of daily runs, applied steps and decisions end the day before it
    (``seed_demo`` asks for ``HISTORY_DAYS``; at most ``days - 60``, so the first run has returns to use).
    """
    if now is not None and now > timezone.now():
        raise clock.MomentInTheFuture(f"the demo cannot be seeded at {now.isoformat()}: that is later than now")
    report = SeedReport()
    roles_ensure()
    users = [
        (username, role, *user_ensure(username=username, role=role, password=password)) for username, role in DEMO_USERS
    ]
    report.portfolios[slug] = _seed_portfolio(
        slug=slug,
        name=f"{slug.title()} portfolio",
        n_strategies=strategies,
        n_days=days,
        seed=seed,
        equity=Decimal("10000000.00"),
        now=now,
        history_days=history_days if slug != "demo-b" else 0,
    )
    if slug != "demo-b":
        report.portfolios["demo-b"] = _seed_portfolio(
            slug="demo-b",
            name="Demo B portfolio",
            n_strategies=10,
            n_days=504,
            seed=seed + 1,
            equity=Decimal("5000000.00"),
            now=now,
        )
    demo = Portfolio.objects.filter(slug="demo").first()
    for username, role, user, created in users:
        if demo is not None and role != roles.ADMINISTRATOR:
            portfolio_grant(user=user, portfolio=demo, role=role)
        report.users.append((username, role, created))
    return report
