"""The audit trail's tables: the append-only, hash-chained rows and each portfolio's chain head.

Written only through ``allocations.services.audit``. The tables they refer to are named by their
labels, so this module imports none of the other tables' modules.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.expressions import DatabaseDefault
from django.db.models.functions import Coalesce, Now

from allocations.money import MONEY

from .fields import unchecked_key


class AuditKind(models.TextChoices):
    FUND_CHANGE = "fund_change", "Fund change"
    RUN_CREATED = "run_created", "Run created"
    RUN_APPROVED = "run_approved", "Run approved"
    RUN_REJECTED = "run_rejected", "Run rejected"
    RUN_SUPERSEDED = "run_superseded", "Pending run superseded"
    EQUITY_CHANGE = "equity_change", "Equity change"
    POLICY_CHANGE = "policy_change", "Policy change"
    METHOD_CHANGE = "method_change", "Method change"
    SCHEDULE_CANCELLED = "schedule_cancelled", "Schedule cancelled"
    SCHEDULE_SUPERSEDED = "schedule_superseded", "Schedule superseded"
    STEP_APPLIED = "step_applied", "Transition step applied"
    STRATEGY_CHANGE = "strategy_change", "Strategy change"
    DATA_IMPORT = "data_import", "Data import"
    WEBHOOK_CHANGE = "webhook_change", "Webhook endpoint change"


AUDIT_KINDS = AuditKind.values


class AuditTrailIsAppendOnly(Exception):
    """Raised when code tries to change or remove an audit row."""


class AuditEntryQuerySet(models.QuerySet):
    def delete(self):
        raise AuditTrailIsAppendOnly("audit entries cannot be deleted")


class AuditEntry(models.Model):
    """One append-only, hash-chained row of the audit trail of a portfolio.

    ``entry_hash = HMAC-SHA256(canonical_json(content) + prev_hash)`` where ``prev_hash`` is the hash
    of the portfolio's previous row (64 zeros for the first). Rows are never updated or deleted:
    on PostgreSQL a trigger refuses it, and ``manage.py verify_audit`` recomputes the chain.

    ``seq`` is the row's position in its portfolio's chain (1 for the first row, the chain head's
    ``count`` for the last). Unique per portfolio, it is the fork guard: two writers racing for the
    chain's tail would both claim ``head.count + 1`` and the database refuses the second. One
    integer index does what two unique indexes of random 64-character hashes (``entry_hash``;
    ``portfolio, prev_hash``) did, for less (bench/README.md, *Why these choices*). It is
    not hashed (hashes written before it stay valid): ``verify_audit`` checks it is 1..n in id order.
    """

    Kind = AuditKind

    # A rebalance writes a row per strategy moved: indexes only where a query reads, and no database
    # key checks (a deferred check locks the parent row at commit, most of a rebalance's commit:
    # bench/README.md). Ids come from rows read under the portfolio lock; Django's PROTECT
    # refuses deleting a parent; ``verify_audit`` names a row whose run, step or strategy is missing.
    portfolio = unchecked_key("allocations.Portfolio", related_name="audit_entries", null=False, db_index=False)
    kind = models.CharField(max_length=24, choices=AuditKind.choices)
    created_at = models.DateTimeField(help_text="The writing process's clock (hashed).")
    # The database's clock, never the caller's: PostgreSQL's statement time (``Now()``), stamped by the
    # column's default on every insert path (ORM, bulk, COPY). Under the portfolio lock each append's
    # statement starts after the previous writer committed, so it never decreases along a chain;
    # ``verify_audit`` checks that. Not hashed (the writer cannot know it); UPDATE is refused by trigger.
    # NULL for rows written before migration 0017.
    recorded_at = models.DateTimeField(
        db_default=Now(), null=True, editable=False, help_text="When the database recorded the row."
    )
    # When the change took effect, where that is not when it was recorded (the demo's lived history, a
    # catch-up run: ``allocations.clock.effective``); hashed when set. Charts and history read
    # ``effective_at`` or else ``recorded_at`` (``models.audit.audit_effective_time``).
    effective_at = models.DateTimeField(
        null=True, blank=True, help_text="When the change took effect, if not when it was recorded."
    )
    strategy = unchecked_key("allocations.Strategy", db_index=False)  # (portfolio, strategy) leads with it
    run = unchecked_key("allocations.AllocationRun")
    step = unchecked_key("allocations.TransitionStep", db_index=False)
    old_amount = models.DecimalField(**MONEY, null=True, blank=True)
    new_amount = models.DecimalField(**MONEY, null=True, blank=True)
    total_capital = models.DecimalField(**MONEY, null=True, blank=True)
    actor = unchecked_key(settings.AUTH_USER_MODEL, db_index=False)  # absent for a command, the scheduler
    actor_label = models.CharField(max_length=150, help_text="Who acted: user:NAME, system:TASK, command:NAME.")
    reason = models.TextField(blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)  # no index: nothing looks a row up by its hash
    seq = models.PositiveBigIntegerField(help_text="Position in the portfolio's chain: 1, 2, ... in id order.")

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["portfolio_id", "seq"]  # the chain's order, whatever the clocks say
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["portfolio", "created_at"], name="audit_portfolio_time_idx"),
            models.Index(fields=["portfolio", "strategy"], name="audit_portfolio_strategy_idx"),
        ]
        constraints = [
            # One row per chain position: two writers racing for the chain's tail cannot fork it.
            models.UniqueConstraint(fields=["portfolio", "seq"], name="audit_chain_position_unique"),
            models.CheckConstraint(condition=Q(kind__in=AUDIT_KINDS), name="audit_kind_valid"),
        ]

    def __str__(self) -> str:
        at = self.effective_at or self.created_at
        return f"{at:%Y-%m-%d %H:%M:%S} {self.kind} {self.actor_label}"

    # Guards for code paths that go through the instance (admin, shell). A queryset ``update()``
    # reaches the database, where a trigger refuses it.
    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("audit entries cannot be changed")
        if not isinstance(self.recorded_at, DatabaseDefault):
            raise AuditTrailIsAppendOnly("recorded_at is the database's to set, not the writer's")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("audit entries cannot be deleted")


class AuditChainHeadQuerySet(models.QuerySet):
    def delete(self):
        raise AuditTrailIsAppendOnly("audit chain heads cannot be deleted")


class AuditChainHead(models.Model):
    """Where a portfolio's audit chain ends, kept outside the audit table.

    Written in the transaction of every append (``services.audit``): the chain has ``count`` rows
    and the last one's hash is ``last_hash``. ``verify_audit`` compares the table with it, so rows
    removed from the end show; ``signature`` (HMAC of the head under ``AUDIT_HMAC_KEY``) shows a
    head moved back by hand. The chain's first ``legacy_count`` rows were hashed with plain sha256
    (written before migration 0007); every later row with HMAC-SHA256.
    """

    portfolio = models.OneToOneField(
        "allocations.Portfolio", on_delete=models.PROTECT, primary_key=True, related_name="audit_chain_head"
    )
    count = models.PositiveBigIntegerField(help_text="Rows in the portfolio's audit chain.")
    last_hash = models.CharField(max_length=64, help_text="entry_hash of the chain's last row.")
    legacy_count = models.PositiveBigIntegerField(
        default=0, help_text="Leading rows hashed with plain sha256 (before migration 0007)."
    )
    signature = models.CharField(max_length=64, help_text="HMAC-SHA256 of the head under AUDIT_HMAC_KEY.")

    objects = AuditChainHeadQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(legacy_count__lte=models.F("count")), name="audit_head_legacy_in_count"),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio_id}: {self.count} rows"

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("audit chain heads cannot be deleted")


#: When an audit row's change took effect: ``effective_at`` where the writer said so (the demo's lived
#: history, a catch-up run: ``allocations.clock.effective``), else when the database recorded it
#: (``recorded_at``; ``created_at`` for rows written before migration 0017). Charts and history read it.
EFFECTIVE_TIME_SQL = "COALESCE(effective_at, recorded_at, created_at)"


def audit_effective_time() -> Coalesce:
    """``EFFECTIVE_TIME_SQL`` as an ORM expression (annotate it; order by ``seq``, never by a time)."""
    return Coalesce("effective_at", "recorded_at", "created_at")
