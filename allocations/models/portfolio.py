"""The portfolio and what it holds: its sectors, strategies and their daily returns, sector signals,
each strategy's fund, the dense returns panel kept beside the rows, and equity changes.

Every range the domain promises is a database constraint, so no code path (a bulk update, a
shell session, a future service) can store a weight of 1.7 or a confidence of -0.2.
Writes go through ``allocations.services``; reads through ``allocations.selectors``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from allocations import clock, engine
from allocations.money import MONEY

from .checks import between, waiting_for_a_decision
from .choices import text_choices
from .fields import user_or_none


class Portfolio(models.Model):
    """An account whose equity is split across strategies."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    base_currency = models.CharField(max_length=3, default="USD")
    total_equity = models.DecimalField(**MONEY, default=Decimal("0"))
    timezone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("ingest_data", "Can push returns and signals into the portfolio"),
            ("request_rebalance", "Can request a rebalance of the portfolio"),
            ("manage_policy", "Can change the portfolio's policy and method"),
            ("approve_run", "Can approve or reject runs and cancel schedules"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total_equity__gte=0), name="portfolio_equity_non_negative"),
            models.CheckConstraint(condition=Q(base_currency__regex=r"^[A-Z]{3}$"), name="portfolio_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.slug


class Sector(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


# A strategy's states, also the values its check constraint allows (Meta cannot see ``Strategy.Status``).
_STRATEGY_STATUSES = ("active", "paused", "retired")


class Strategy(models.Model):
    Status = text_choices("Strategy.Status", _STRATEGY_STATUSES, module=__name__)

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="strategies")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    sector = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="strategies")
    asset_class = models.CharField(max_length=64, default="equity")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    risk_budget = models.FloatField(default=1.0, help_text="Relative risk budget; equal by default.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["portfolio_id", "code"]
        verbose_name_plural = "strategies"
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "code"], name="strategy_code_unique_in_portfolio"),
            models.CheckConstraint(condition=Q(risk_budget__gt=0), name="strategy_risk_budget_positive"),
            models.CheckConstraint(condition=Q(status__in=list(_STRATEGY_STATUSES)), name="strategy_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio.slug}/{self.code}" if self.portfolio_id else self.code


class StrategyReturn(models.Model):
    """One daily return of one strategy (0.01 = +1 %)."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="returns")
    date = models.DateField()
    value = models.FloatField()

    class Meta:
        ordering = ["strategy_id", "date"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "date"], name="return_unique_strategy_date"),
            # A return of -100 % or worse is not a return; NaN fails this check on both databases.
            models.CheckConstraint(condition=Q(value__gt=-1) & Q(value__lt=1e6), name="return_above_minus_one"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id} {self.date} {self.value}"


class SectorSignal(models.Model):
    Action = text_choices("SectorSignal.Action", engine.ACTIONS, module=__name__)

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="signals")
    sector = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="signals")
    action = models.CharField(max_length=4, choices=Action.choices)
    confidence = models.FloatField(default=1.0)
    as_of = models.DateTimeField()
    source = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ["portfolio_id", "-as_of"]
        indexes = [models.Index(fields=["portfolio", "sector", "-as_of"], name="signal_latest_idx")]
        constraints = [
            models.CheckConstraint(condition=between("confidence", 0, 1), name="signal_confidence_0_1"),
            models.CheckConstraint(condition=Q(action__in=list(engine.ACTIONS)), name="signal_action_valid"),
        ]


class Fund(models.Model):
    """The capital currently given to one strategy."""

    strategy = models.OneToOneField(Strategy, on_delete=models.PROTECT, primary_key=True, related_name="fund")
    amount = models.DecimalField(**MONEY, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["strategy_id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="fund_amount_non_negative")]

    def __str__(self) -> str:
        return f"{self.strategy}: {self.amount}"


class ReturnsPanelSnapshot(models.Model):
    """The portfolio's returns as one dense (T x N) float64 panel, kept by the ingestion services in the
    transaction that writes the rows (which stay the truth; a trigger drops the snapshot on any other write)."""

    portfolio = models.OneToOneField(Portfolio, on_delete=models.CASCADE, primary_key=True, related_name="+")
    strategy_ids = models.BinaryField(help_text="(N,) little-endian int64, ascending: strategies with a return")
    days = models.BinaryField(help_text="(T,) little-endian int32 days since 1970-01-01, ascending")
    values = models.BinaryField(help_text="(T x N) little-endian float64, row-major; NaN where no return")
    updated_at = models.DateTimeField(auto_now=True)


class EquityChange(models.Model):
    """A risk officer's decision to change a portfolio's equity (four eyes above the approval threshold)."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a newer request"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="equity_changes")
    old_equity = models.DecimalField(**MONEY)
    new_equity = models.DecimalField(**MONEY)
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=clock.now, editable=False)
    decided_by = user_or_none()
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(new_equity__gt=0), name="equity_change_positive"),
            *waiting_for_a_decision("equity_change"),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio_id}: {self.old_equity} -> {self.new_equity} ({self.status})"
