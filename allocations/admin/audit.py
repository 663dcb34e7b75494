"""The audit trail, its chain heads, the idempotency records and the returns snapshots: read-only."""

from __future__ import annotations

from django.contrib import admin

from allocations import models

from .base import GrantedPortfolioFilter, ReadOnlyAdmin
from .display import ReadableFields


@admin.register(models.AuditEntry)
class AuditEntryAdmin(ReadableFields, ReadOnlyAdmin):
    money_fields = ("old_amount", "new_amount", "total_capital")
    list_display = [
        "seq",
        "recorded_at",
        "effective_at",
        "portfolio",
        "kind",
        "strategy",
        "old_amount",
        "new_amount",
        "total_capital",
        "actor_label",
        "reason",
    ]
    list_filter = [GrantedPortfolioFilter, "kind", "created_at", "actor_label"]
    search_fields = ["actor_label", "reason", "strategy__code"]
    date_hierarchy = "created_at"
    list_select_related = ["portfolio", "strategy"]
    show_full_result_count = False
    ordering = ["portfolio_id", "-seq"]  # each chain newest first by its position, whatever the clocks say


@admin.register(models.AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ["portfolio", "count", "legacy_count", "last_hash"]
    list_select_related = ["portfolio"]


@admin.register(models.IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "key", "method", "path", "status_code"]
    readonly_fields = [f.name for f in models.IdempotencyRecord._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ReturnsPanelSnapshot)
class ReturnsPanelSnapshotAdmin(ReadOnlyAdmin):
    """What the panel loader reads: its size only (``manage.py returns_snapshot`` checks it against the rows)."""

    list_display = ["portfolio", "strategies", "days_held", "updated_at"]
    fields = ["portfolio", "strategies", "days_held", "updated_at"]
    readonly_fields = fields
    list_select_related = ["portfolio"]

    def get_queryset(self, request):
        from django.db.models.functions import Length

        return (
            super()
            .get_queryset(request)
            .defer("strategy_ids", "days", "values")
            .annotate(ids_bytes=Length("strategy_ids"), days_bytes=Length("days"))
        )

    @admin.display(description="strategies")
    def strategies(self, obj) -> int:
        return (obj.ids_bytes or 0) // 8

    @admin.display(description="days")
    def days_held(self, obj) -> int:
        return (obj.days_bytes or 0) // 4
