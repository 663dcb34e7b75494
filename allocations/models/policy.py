"""A portfolio's policy, one row per version, and the proposals of a change that wait for a second
risk officer. The ranges of the policy's fields are declared once, in ``allocations.policy_fields``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from allocations import clock, engine
from allocations.policy_fields import POLICY_FIELDS

from .checks import between, waiting_for_a_decision
from .choices import CovarianceEstimator, Method
from .fields import user_or_none
from .portfolio import Portfolio


def _policy_range_constraints() -> list[models.CheckConstraint]:
    """One check constraint per bounded field of ``POLICY_FIELDS`` (the one declaration of the ranges)."""
    return [
        models.CheckConstraint(
            condition=between(f.name, f.bounds.low, f.bounds.high, low_open=f.bounds.low_open),
            name=f"policy_{f.name}_range",
        )
        for f in POLICY_FIELDS.values()
        if f.bounds is not None
    ]


class AllocationPolicy(models.Model):
    """One version of a portfolio's policy. A change is a new row; runs keep the version they used.

    Defaults are the specification's ``capital-allocation-config.yaml``.
    """

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="policies")
    version = models.PositiveIntegerField()
    method = models.CharField(max_length=32, choices=Method.choices, default=Method.HYBRID)
    hybrid_blend = models.FloatField(default=0.5, help_text="Share of risk parity in the hybrid blend.")
    rebalance_frequency = models.CharField(max_length=16, default="daily")
    rebalance_time = models.TimeField(default="16:00")
    force_rebalance_threshold = models.FloatField(default=0.1)
    approval_threshold = models.FloatField(default=0.25)
    lookback_period = models.PositiveIntegerField(default=30)
    covariance_lookback = models.PositiveIntegerField(default=252)
    covariance_estimator = models.CharField(
        max_length=32, choices=CovarianceEstimator.choices, default=engine.AllocationPolicy.covariance_estimator
    )
    momentum_factor = models.FloatField(default=0.3)
    signal_decay_factor = models.FloatField(default=0.95)
    signal_window_days = models.PositiveIntegerField(default=5)
    stale_after_days = models.PositiveIntegerField(
        default=10, help_text="Business days without a return after which a strategy is held and flagged stale."
    )
    buy_multiplier = models.FloatField(default=0.3)
    sell_multiplier = models.FloatField(default=0.2)
    max_single_strategy_exposure = models.FloatField(default=0.2)
    max_sector_exposure = models.FloatField(default=0.3)
    max_total_risk = models.FloatField(default=0.8)
    transition_period_days = models.PositiveIntegerField(default=5)
    max_daily_change = models.FloatField(default=0.1)
    min_change_threshold = models.FloatField(default=0.05)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["portfolio_id", "-version"]
        verbose_name_plural = "allocation policies"
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "version"], name="policy_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="policy_version_positive"),
            models.CheckConstraint(condition=Q(method__in=Method.values), name="policy_method_valid"),
            models.CheckConstraint(
                condition=Q(covariance_estimator__in=CovarianceEstimator.values), name="policy_estimator_valid"
            ),
            *_policy_range_constraints(),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio_id} policy v{self.version}"


class PolicyProposal(models.Model):
    """A risk officer's proposed policy change, applied as a new version only when a second risk
    officer approves it (a change that only tightens applies at once and needs no proposal)."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a newer proposal"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="policy_proposals")
    base_policy = models.ForeignKey(
        AllocationPolicy, null=True, on_delete=models.PROTECT, related_name="+", help_text="The version in force."
    )
    changes = models.JSONField(help_text="Field -> proposed value (times as HH:MM:SS).")
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=clock.now, editable=False)
    decided_by = user_or_none()
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    applied_policy = models.ForeignKey(
        AllocationPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = waiting_for_a_decision("policy_proposal")

    def __str__(self) -> str:
        return f"{self.portfolio_id}: policy proposal {self.pk} ({self.status})"
