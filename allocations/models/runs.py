"""Runs: one allocation decision with its lines (a strategy's weights at every stage), and the
transition schedule that moves the funds to the run's target in dated steps.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from allocations import clock
from allocations.money import MONEY

from .checks import between
from .choices import Method, text_choices
from .fields import CompactExplanationField, CompactStepWeightsField, user_or_none
from .idempotency import MAX_KEY_LENGTH
from .policy import AllocationPolicy
from .portfolio import Portfolio, Strategy

# A schedule and its pending steps end together: superseded by a newer schedule, or cancelled.
_TRANSITION_ENDS = ("superseded", "cancelled")


class RunStatus(models.TextChoices):
    COMPUTED = "computed", "Computed"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    APPLIED = "applied", "Applied"
    NO_OP = "no_op", "No change needed"
    SUPERSEDED = "superseded", "Superseded by a newer pending run"
    FAILED = "failed", "Failed"


RUN_STATUSES = RunStatus.values


class AllocationRun(models.Model):
    """One allocation decision, with the inputs it saw and the outcome."""

    Status = RunStatus

    class Trigger(models.TextChoices):
        API = "api", "API"
        ADMIN = "admin", "Admin"
        DASHBOARD = "dashboard", "Dashboard"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="runs")
    policy = models.ForeignKey(AllocationPolicy, on_delete=models.PROTECT, related_name="runs")
    method = models.CharField(max_length=32, choices=Method.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    requested_by = user_or_none()
    requested_via = models.CharField(max_length=100, blank=True, default="", help_text="token id or schedule name")
    run_date = models.DateField(null=True, blank=True, help_text="Set for scheduled runs: one per portfolio per day.")
    idempotency_key = models.CharField(max_length=MAX_KEY_LENGTH, null=True, blank=True)
    inputs_digest = models.CharField(max_length=64)
    total_equity = models.DecimalField(**MONEY)
    force_rebalance = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPUTED)
    turnover = models.FloatField(default=0.0)
    cash_weight = models.FloatField(default=0.0)
    ex_ante_volatility = models.FloatField(default=0.0)
    effective_strategies = models.FloatField(default=0.0)
    explanation = CompactExplanationField(default=dict, blank=True)  # per-strategy rows stored as arrays
    phase_timings_ms = models.JSONField(default=dict, blank=True, help_text="The service's phases of this run.")
    error = models.TextField(blank=True, default="")
    decided_by = user_or_none()
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["portfolio", "-created_at"], name="run_portfolio_recent_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "requested_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="run_idempotency_key_unique_per_requester",
            ),
            models.UniqueConstraint(
                fields=["portfolio", "run_date"],
                condition=Q(trigger="schedule", run_date__isnull=False),
                name="run_one_scheduled_per_day",
            ),
            models.CheckConstraint(condition=Q(total_equity__gte=0), name="run_equity_non_negative"),
            models.CheckConstraint(condition=Q(turnover__gte=0) & Q(turnover__lte=2 + 1e-9), name="run_turnover_0_2"),
            models.CheckConstraint(condition=between("cash_weight", 0, 1), name="run_cash_0_1"),
            models.CheckConstraint(condition=Q(status__in=RUN_STATUSES), name="run_status_valid"),
        ]

    def __str__(self) -> str:
        return f"run {self.public_id} ({self.status})"


class AllocationLine(models.Model):
    """One strategy's weights at every stage of one run (fractions of total equity)."""

    # One line per strategy per run: no database key checks (see ``AuditEntry``), no index on ``run``
    # alone (the unique (run, strategy) leads with it).
    run = models.ForeignKey(
        AllocationRun, on_delete=models.CASCADE, related_name="lines", db_index=False, db_constraint=False
    )
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    current_weight = models.FloatField()
    base_weight = models.FloatField()
    signal_weight = models.FloatField()
    smoothed_weight = models.FloatField()
    target_weight = models.FloatField()
    target_amount = models.DecimalField(**MONEY)
    momentum_weight = models.FloatField(
        null=True, blank=True, help_text="Smoothed momentum weight, the next run's starting point for decay."
    )
    risk_contribution = models.FloatField(default=0.0)
    binding_limit = models.CharField(max_length=16, blank=True, default="")
    limit_excess = models.FloatField(default=0.0, help_text="Weight removed by the binding limit.")
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run_id", "strategy_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "strategy"], name="line_unique_run_strategy"),
            models.CheckConstraint(condition=between("target_weight", 0, 1), name="line_target_0_1"),
            models.CheckConstraint(condition=between("current_weight", 0, 1), name="line_current_0_1"),
            models.CheckConstraint(condition=Q(target_amount__gte=0), name="line_amount_non_negative"),
        ]


class TransitionSchedule(models.Model):
    Status = text_choices("TransitionSchedule.Status", ("active", "completed", *_TRANSITION_ENDS), module=__name__)

    run = models.OneToOneField(AllocationRun, on_delete=models.PROTECT, related_name="schedule")
    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="schedules")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = user_or_none()
    close_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one schedule moves a portfolio's money at a time.
            models.UniqueConstraint(
                fields=["portfolio"], condition=Q(status="active"), name="schedule_one_active_per_portfolio"
            ),
        ]


class TransitionStep(models.Model):
    Status = text_choices("TransitionStep.Status", ("pending", "applied", *_TRANSITION_ENDS), module=__name__)

    schedule = models.ForeignKey(TransitionSchedule, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField(help_text="1 for the first step.")
    due_date = models.DateField()
    weights = CompactStepWeightsField(help_text="Strategy id -> weight of total equity after this step.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["schedule_id", "index"]
        indexes = [models.Index(fields=["status", "due_date"], name="step_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "index"], name="step_unique_index"),
            models.CheckConstraint(condition=Q(index__gte=1), name="step_index_positive"),
        ]
