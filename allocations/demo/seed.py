"""Seeding the demo: its portfolios (``demo`` and ``demo-b``) and users, at the moment given as ``now``."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts import roles
from accounts.services import portfolio_grant, roles_ensure, user_ensure
from allocations import clock
from allocations.models import Portfolio, Sector, Strategy
from allocations.money import CENT
from allocations.services.funds import funds_set_many
from allocations.services.policies import policy_create_version

from .history import live_history, on_day
from .returns import business_days, returns_create, synthetic_returns
from .world import ACTOR, DEMO_SIGNALS, DEMO_USERS, SECTORS, signals_create

MIN_LOOKBACK = 60  # returns kept before the history starts, so its first run has a full window


@dataclass
class SeedReport:
    portfolios: dict[str, str] = field(default_factory=dict)
    users: list[tuple[str, str, bool]] = field(default_factory=list)


def _seed_portfolio(
    *,
    slug: str,
    name: str,
    n_strategies: int,
    n_days: int,
    seed: int,
    equity: Decimal,
    now: datetime | None,
    seeded_at: datetime,
    history_days: int = 0,
) -> str:
    """Create one demo portfolio unless it already has strategies; returns what was done.

    ``seeded_at`` is the moment the demo is seeded at (``now``, or the wall clock when ``now`` is None):
    the returns end the day before it. With
    ``history_days`` the last that many business days are lived through (``live_history``): the
    returns of each day arrive that evening and the daily rebalance runs, all through the services,
    and the initial policy, signals and funds take effect at 08:00 of the first of those days.
    Without history they take effect at ``now`` (None: as they are written; never later: nothing is
    written from the future).
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
        today = timezone.localtime(seeded_at, ZoneInfo(portfolio.timezone)).date()
        days = business_days(today - timedelta(days=1), n_days)
        values = synthetic_returns(n_strategies, n_days, sector_of, seed)
        before = n_days - history_days
        returns_create(portfolio, ids, days[:before], values[:before])
        each = (equity / n_strategies).quantize(CENT, rounding=ROUND_FLOOR)  # never above the equity
        with on_day(portfolio, days[before], time(8, 0)) if history_days else _at(now):
            signals_create(portfolio, DEMO_SIGNALS, source="seed_demo")
            policy_create_version(portfolio=portfolio, actor=ACTOR, reason="initial policy (specification defaults)")
            funds_set_many(
                portfolio=portfolio,
                amounts={s.pk: each for s in strategies},
                actor=ACTOR,
                reason="initial demo allocation: equal weights",
            )
        if history_days:
            live_history(portfolio, ids, days[before:], values[before:], seed)
    done = f"created: {n_strategies} strategies, {n_days} days of returns, funds of {each} each"
    return done + (f", {history_days} business days of daily runs" if history_days else "")


def _at(now: datetime | None):
    """Changes take effect at ``now``, an earlier moment a caller chose, or (None) as they are written."""
    return nullcontext() if now is None else clock.effective(now)


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
    wall_clock = timezone.now()  # the default of ``now``, read once: the rest of the demo is given the moment
    if now is not None and now > wall_clock:
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
        seeded_at=now or wall_clock,
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
            seeded_at=now or wall_clock,
        )
    demo = Portfolio.objects.filter(slug="demo").first()
    for username, role, user, created in users:
        if demo is not None and role != roles.ADMINISTRATOR:
            portfolio_grant(user=user, portfolio=demo, role=role)
        report.users.append((username, role, created))
    return report
