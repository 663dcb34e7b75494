"""Demo data: portfolios with synthetic strategy returns, signals, funds, and one user per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts import roles
from accounts.services import portfolio_grant, roles_ensure, user_ensure
from allocations.models import Portfolio, Sector, SectorSignal, Strategy, StrategyReturn

from .actors import Actor
from .funds import CENT, funds_set_many
from .policies import policy_create_version

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


def _seed_portfolio(*, slug: str, name: str, n_strategies: int, n_days: int, seed: int, equity: Decimal) -> str:
    """Create one demo portfolio unless it already has strategies; returns what was done."""
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
        days = business_days(timezone.localdate() - timedelta(days=1), n_days)
        values = synthetic_returns(n_strategies, n_days, sector_of, seed)
        StrategyReturn.objects.bulk_create(
            (
                StrategyReturn(strategy_id=strategy.pk, date=day, value=float(values[t, j]))
                for j, strategy in enumerate(strategies)
                for t, day in enumerate(days)
            ),
            batch_size=5000,
        )
        now = timezone.now()
        for code, action, confidence in DEMO_SIGNALS:
            SectorSignal.objects.create(
                portfolio=portfolio,
                sector=Sector.objects.get(code=code),
                action=action,
                confidence=confidence,
                as_of=now,
                source="seed_demo",
            )
        policy_create_version(portfolio=portfolio, actor=ACTOR, reason="initial policy (specification defaults)")
        each = (equity / n_strategies).quantize(CENT)
        funds_set_many(
            portfolio=portfolio,
            amounts={s.pk: each for s in strategies},
            actor=ACTOR,
            reason="initial demo allocation: equal weights",
        )
    return f"created: {n_strategies} strategies, {n_days} days of returns, funds of {each} each"


def demo_seed(
    *, slug: str = "demo", strategies: int = 40, days: int = 504, seed: int = 7, password: str = "demo"
) -> SeedReport:
    """Seed the demo portfolio(s) and users. Running it again changes nothing."""
    report = SeedReport()
    report.portfolios[slug] = _seed_portfolio(
        slug=slug,
        name=f"{slug.title()} portfolio",
        n_strategies=strategies,
        n_days=days,
        seed=seed,
        equity=Decimal("10000000.00"),
    )
    if slug != "demo-b":
        report.portfolios["demo-b"] = _seed_portfolio(
            slug="demo-b",
            name="Demo B portfolio",
            n_strategies=10,
            n_days=504,
            seed=seed + 1,
            equity=Decimal("5000000.00"),
        )
    roles_ensure()
    demo = Portfolio.objects.filter(slug="demo").first()
    for username, role in DEMO_USERS:
        user, created = user_ensure(username=username, role=role, password=password)
        if demo is not None and role != roles.ADMINISTRATOR:
            portfolio_grant(user=user, portfolio=demo, role=role)
        report.users.append((username, role, created))
    return report
