"""Tables of the scheduled jobs: the outbox to order execution and the record of every job execution.

Read and written only through ``allocations.selectors.jobs`` and
``allocations.services.outbox`` / ``allocations.services.jobs``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .fields import EncryptedSecretField


# A delivery's states, declared outside the model so that its check constraint allows exactly these
# values (a model's Meta cannot see ``WebhookDelivery.Status``).
class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead letter"


DELIVERY_STATUSES = DeliveryStatus.values


class WebhookEndpoint(models.Model):
    """Where a portfolio's allocation changes are sent (the order-execution system), and its signing key."""

    portfolio = models.ForeignKey("allocations.Portfolio", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    # encrypted at rest (allocations.models.fields): a database dump holds no key that signs orders
    secret = EncryptedSecretField(max_length=400, help_text="HMAC-SHA256 key of the X-CAE-Signature header.")
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["portfolio_id", "id"]
        constraints = [models.UniqueConstraint(fields=["portfolio", "url"], name="webhook_url_unique_in_portfolio")]

    def __str__(self) -> str:
        return f"{self.portfolio_id}: {self.url}"


class OutboxEvent(models.Model):
    """An allocation change written in the transaction that moved the funds; ``public_id`` is its stable id."""

    class Kind(models.TextChoices):
        TARGET_APPROVED = "allocation.target_approved", "Target approved"
        STEP_APPLIED = "allocation.step_applied", "Step applied"
        FUNDS_SCALED = "portfolio.funds_scaled", "Funds scaled down to a lower equity"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    portfolio = models.ForeignKey("allocations.Portfolio", on_delete=models.PROTECT, related_name="outbox_events")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # none for funds scaled down by an equity change (no run moved them)
    run = models.ForeignKey(
        "allocations.AllocationRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    step = models.ForeignKey(
        "allocations.TransitionStep", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # one event per applied step and per approved target, however often a step is retried
            models.UniqueConstraint(fields=["step"], condition=Q(step__isnull=False), name="outbox_one_per_step"),
            models.UniqueConstraint(
                fields=["run"], condition=Q(kind="allocation.target_approved"), name="outbox_one_target_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until a 2xx answer, dead after the last allowed try."""

    Status = DeliveryStatus

    event = models.ForeignKey(OutboxEvent, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="Not tried again before this time (backoff, or a claim's lease).")
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_unique_event_endpoint"),
            models.CheckConstraint(condition=Q(status__in=DELIVERY_STATUSES), name="delivery_status"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery: what the receiver answered, or why it could not be reached."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField(default=0.0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_unique_number")]


class JobExecution(models.Model):
    """One run of a scheduled job (a Celery task): what it did, or the error that stopped it."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # still running past the broker's visibility timeout: its worker died (allocations.services.job_liveness)
        LOST = "lost", "Lost"

    job = models.CharField(max_length=100, help_text="The task's name.")
    task_id = models.CharField(max_length=255, blank=True, default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    portfolio = models.ForeignKey(
        "allocations.Portfolio", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="What it did: counts, ids, outcomes.")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "-started_at"], name="job_recent_idx")]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class WorkerHeartbeat(models.Model):
    """The last sign of life of each Celery worker (``capital_allocation.celery``), read by ``/health/``."""

    hostname = models.CharField(max_length=255, unique=True, help_text="The worker's node name (name@host).")
    pid = models.PositiveIntegerField()
    beat_at = models.DateTimeField()

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return f"{self.hostname} {self.beat_at:%Y-%m-%d %H:%M:%S}"
