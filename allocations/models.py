"""Tables of the allocation domain: fields and constraints only.

Every range the domain promises is a database constraint, so no code path (a bulk update, a
shell session, a future service) can store a weight of 1.7 or a confidence of -0.2.
Writes go through ``allocations.services``; reads through ``allocations.selectors``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from allocations import clock, engine
from allocations.adapters import CompactExplanationField, CompactStepWeightsField
from allocations.money import MONEY
from allocations.policy_fields import ESTIMATOR_LABELS, METHOD_LABELS, POLICY_FIELDS


def _between(field: str, low: float, high: float, *, low_open: bool = False) -> Q:
    lower = Q(**{f"{field}__gt": low}) if low_open else Q(**{f"{field}__gte": low})
    return lower & Q(**{f"{field}__lte": high})


def _user_or_none() -> models.ForeignKey:
    """A user who may be absent (a command, the scheduler), kept while a row names them."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )


def _text_choices(qualname: str, values: Iterable[str], label: Callable[[str], str] = str.capitalize):
    """Choices of ``values`` declared elsewhere (the engine's lists, shared states), each member named
    by its value upper-cased (``Method.HRP``, ``Status.ACTIVE``) and labelled by ``label(value)``.

    ``qualname`` is where the choices are reached from this module (``"TransitionStep.Status"``), as a
    class statement would name them, so that their members pickle."""
    members = [(value.upper(), (value, label(value))) for value in values]
    return models.TextChoices(qualname.rpartition(".")[2], members, module=__name__, qualname=qualname)


# The choices come from the engine's lists, so a method, estimator or signal action exists in one place only.
Method = _text_choices("Method", engine.METHODS, lambda m: METHOD_LABELS.get(m, m))
CovarianceEstimator = _text_choices(
    "CovarianceEstimator", engine.COVARIANCE_ESTIMATORS, lambda e: ESTIMATOR_LABELS.get(e, e)
)

# A schedule and its pending steps end together: superseded by a newer schedule, or cancelled.
_TRANSITION_ENDS = ("superseded", "cancelled")


def _policy_range_constraints() -> list[models.CheckConstraint]:
    """One check constraint per bounded field of ``POLICY_FIELDS`` (the one declaration of the ranges)."""
    return [
        models.CheckConstraint(
            condition=_between(f.name, f.bounds.low, f.bounds.high, low_open=f.bounds.low_open),
            name=f"policy_{f.name}_range",
        )
        for f in POLICY_FIELDS.values()
        if f.bounds is not None
    ]


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
    Status = _text_choices("Strategy.Status", _STRATEGY_STATUSES)

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
    Action = _text_choices("SectorSignal.Action", engine.ACTIONS)

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
            models.CheckConstraint(condition=_between("confidence", 0, 1), name="signal_confidence_0_1"),
            models.CheckConstraint(condition=Q(action__in=list(engine.ACTIONS)), name="signal_action_valid"),
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
    requested_by = _user_or_none()
    requested_via = models.CharField(max_length=100, blank=True, default="", help_text="token id or schedule name")
    run_date = models.DateField(null=True, blank=True, help_text="Set for scheduled runs: one per portfolio per day.")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
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
    decided_by = _user_or_none()
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
            models.CheckConstraint(condition=_between("cash_weight", 0, 1), name="run_cash_0_1"),
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
            models.CheckConstraint(condition=_between("target_weight", 0, 1), name="line_target_0_1"),
            models.CheckConstraint(condition=_between("current_weight", 0, 1), name="line_current_0_1"),
            models.CheckConstraint(condition=Q(target_amount__gte=0), name="line_amount_non_negative"),
        ]


class TransitionSchedule(models.Model):
    Status = _text_choices("TransitionSchedule.Status", ("active", "completed", *_TRANSITION_ENDS))

    run = models.OneToOneField(AllocationRun, on_delete=models.PROTECT, related_name="schedule")
    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="schedules")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = _user_or_none()
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
    Status = _text_choices("TransitionStep.Status", ("pending", "applied", *_TRANSITION_ENDS))

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
    decided_by = _user_or_none()
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(new_equity__gt=0), name="equity_change_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["pending_approval", "applied", "rejected", "superseded"]),
                name="equity_change_status_valid",
            ),
            models.UniqueConstraint(
                fields=["portfolio"],
                condition=Q(status="pending_approval"),
                name="equity_change_one_pending_per_portfolio",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio_id}: {self.old_equity} -> {self.new_equity} ({self.status})"


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
    decided_by = _user_or_none()
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    applied_policy = models.ForeignKey(
        AllocationPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending_approval", "applied", "rejected", "superseded"]),
                name="policy_proposal_status_valid",
            ),
            models.UniqueConstraint(
                fields=["portfolio"],
                condition=Q(status="pending_approval"),
                name="policy_proposal_one_pending_per_portfolio",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio_id}: policy proposal {self.pk} ({self.status})"


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed to its retries.

    A record is claimed (``status_code`` null) before the request is handled, so a concurrent
    retry sees the claim instead of running the request a second time.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]


class ReturnsPanelSnapshot(models.Model):
    """The portfolio's returns as one dense (T x N) float64 panel, kept by the ingestion services in the
    transaction that writes the rows (which stay the truth; a trigger drops the snapshot on any other write)."""

    portfolio = models.OneToOneField(Portfolio, on_delete=models.CASCADE, primary_key=True, related_name="+")
    strategy_ids = models.BinaryField(help_text="(N,) little-endian int64, ascending: strategies with a return")
    days = models.BinaryField(help_text="(T,) little-endian int32 days since 1970-01-01, ascending")
    values = models.BinaryField(help_text="(T x N) little-endian float64, row-major; NaN where no return")
    updated_at = models.DateTimeField(auto_now=True)


# The audit trail's tables and the scheduled jobs' (outbox, job executions) live beside this module.
from allocations.models_audit import (  # noqa: E402, F401
    AUDIT_KINDS,
    AuditChainHead,
    AuditEntry,
    AuditEntryQuerySet,
    AuditKind,
    AuditTrailIsAppendOnly,
)
from allocations.models_jobs import (  # noqa: E402, F401
    DeliveryAttempt,
    JobExecution,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHeartbeat,
)
