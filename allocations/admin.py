"""The web admin for risk officers. Every model is here; the audit trail is read-only."""
from django.contrib import admin

from . import models


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Portfolio)
class PortfolioAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "base_currency", "total_equity", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(models.Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(models.Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "portfolio", "sector", "status", "risk_budget"]
    list_filter = ["portfolio", "sector", "status"]
    search_fields = ["code", "name"]
    list_select_related = ["portfolio", "sector"]


@admin.register(models.StrategyReturn)
class StrategyReturnAdmin(admin.ModelAdmin):
    list_display = ["strategy", "date", "value"]
    list_filter = ["strategy__portfolio"]
    search_fields = ["strategy__code"]
    date_hierarchy = "date"
    list_select_related = ["strategy__portfolio"]
    raw_id_fields = ["strategy"]


@admin.register(models.SectorSignal)
class SectorSignalAdmin(admin.ModelAdmin):
    list_display = ["portfolio", "sector", "action", "confidence", "as_of", "source"]
    list_filter = ["portfolio", "sector", "action"]


@admin.register(models.AllocationPolicy)
class AllocationPolicyAdmin(ReadOnlyAdmin):
    """Policies are versioned: a change is a new version made by the policy service."""

    list_display = ["portfolio", "version", "method", "max_single_strategy_exposure", "max_sector_exposure",
                    "max_total_risk", "created_at", "created_by"]
    list_filter = ["portfolio", "method"]


@admin.register(models.Fund)
class FundAdmin(ReadOnlyAdmin):
    """Funds change only through the fund services, which audit every change."""

    list_display = ["strategy", "amount", "updated_at"]
    list_filter = ["strategy__portfolio"]
    list_select_related = ["strategy__portfolio"]


class AllocationLineInline(admin.TabularInline):
    model = models.AllocationLine
    extra = 0
    can_delete = False
    readonly_fields = ["strategy", "current_weight", "base_weight", "signal_weight", "smoothed_weight",
                       "target_weight", "target_amount", "risk_contribution", "binding_limit", "limit_excess", "flags"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.AllocationRun)
class AllocationRunAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "portfolio", "method", "status", "trigger", "turnover", "requested_by", "created_at"]
    list_filter = ["portfolio", "status", "trigger", "method"]
    inlines = [AllocationLineInline]


@admin.register(models.AllocationLine)
class AllocationLineAdmin(ReadOnlyAdmin):
    list_display = ["run", "strategy", "current_weight", "target_weight", "binding_limit"]
    list_select_related = ["run", "strategy"]


class TransitionStepInline(admin.TabularInline):
    model = models.TransitionStep
    extra = 0
    can_delete = False
    readonly_fields = ["index", "due_date", "status", "applied_at", "applied_by"]
    exclude = ["weights"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.TransitionSchedule)
class TransitionScheduleAdmin(ReadOnlyAdmin):
    list_display = ["id", "portfolio", "run", "status", "created_at"]
    list_filter = ["portfolio", "status"]
    inlines = [TransitionStepInline]


@admin.register(models.TransitionStep)
class TransitionStepAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "index", "due_date", "status", "applied_at"]
    list_filter = ["status"]


@admin.register(models.AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "portfolio", "kind", "strategy", "old_amount", "new_amount", "total_capital",
                    "actor_label", "reason"]
    list_filter = ["portfolio", "kind", "created_at"]
    search_fields = ["actor_label", "reason", "strategy__code"]
    date_hierarchy = "created_at"
    list_select_related = ["portfolio", "strategy"]
