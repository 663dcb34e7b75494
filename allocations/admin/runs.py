"""Runs with their lines (approve, reject) and transition schedules with their steps (cancel)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from allocations import models
from allocations.services.approvals import allocation_run_approve, allocation_run_reject
from allocations.services.schedules import transition_schedule_cancel

from .base import GrantedPortfolioFilter, ReadOnlyAdmin, request_actor, with_reason


class AllocationLineInline(admin.TabularInline):
    model = models.AllocationLine
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "strategy",
        "current_weight",
        "base_weight",
        "signal_weight",
        "smoothed_weight",
        "target_weight",
        "target_amount",
        "risk_contribution",
        "binding_limit",
        "limit_excess",
        "flags",
    ]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("strategy")


@admin.register(models.AllocationRun)
class AllocationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "portfolio",
        "method",
        "status",
        "trigger",
        "turnover",
        "cash_weight",
        "requested_by",
        "decided_by",
        "created_at",
    ]
    list_filter = [GrantedPortfolioFilter, "status", "trigger", "method"]
    search_fields = ["public_id", "idempotency_key"]
    inlines = [AllocationLineInline]
    actions = ["approve", "reject"]
    exclude = ["explanation"]
    readonly_fields = ["run_summary"]

    @admin.display(description="summary")
    def run_summary(self, obj):
        e = obj.explanation or {}
        # format_html escapes its arguments into SafeStrings, which take no format spec
        # ("{:.2%}" raised ValueError, and the admin showed "-"): the numbers are formatted first.
        return format_html(
            "ex-ante volatility {} · effective strategies {} · cash {} · turnover {} · fallbacks: {}",
            f"{obj.ex_ante_volatility:.2%}",
            f"{obj.effective_strategies:.1f}",
            f"{obj.cash_weight:.2%}",
            f"{obj.turnover:.2%}",
            ", ".join(e.get("fallbacks", [])) or "none",
        )

    def _check(self, request, queryset) -> bool:
        allowed = all(request.user.has_perm("allocations.approve_run", run.portfolio) for run in queryset)
        if not allowed:
            self.message_user(request, "you may not approve or reject runs of one of these portfolios", messages.ERROR)
        return allowed

    @admin.action(description="Approve selected runs (four eyes: not your own)")
    def approve(self, request, queryset):
        if not self._check(request, queryset):
            return None
        return with_reason(
            self,
            request,
            queryset,
            title="Approve runs",
            perform=lambda run, reason: allocation_run_approve(run=run, actor=request_actor(request), reason=reason),
        )

    @admin.action(description="Reject selected runs")
    def reject(self, request, queryset):
        if not self._check(request, queryset):
            return None
        return with_reason(
            self,
            request,
            queryset,
            title="Reject runs",
            perform=lambda run, reason: allocation_run_reject(run=run, actor=request_actor(request), reason=reason),
        )


@admin.register(models.AllocationLine)
class AllocationLineAdmin(ReadOnlyAdmin):
    portfolio_path = "run__portfolio"
    list_display = ["run", "strategy", "current_weight", "target_weight", "binding_limit"]
    list_select_related = ["run", "strategy"]


class TransitionStepInline(admin.TabularInline):
    model = models.TransitionStep
    extra = 0
    can_delete = False
    fields = readonly_fields = ["index", "due_date", "status", "applied_at", "applied_by"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.TransitionSchedule)
class TransitionScheduleAdmin(ReadOnlyAdmin):
    list_display = ["id", "portfolio", "run", "status", "created_at", "closed_at", "close_reason"]
    list_filter = [GrantedPortfolioFilter, "status"]
    inlines = [TransitionStepInline]
    actions = ["cancel"]

    @admin.action(description="Cancel selected schedules (funds stay where they are)")
    def cancel(self, request, queryset):
        if not all(request.user.has_perm("allocations.approve_run", s.portfolio) for s in queryset):
            self.message_user(request, "you may not cancel schedules of one of these portfolios", messages.ERROR)
            return None
        return with_reason(
            self,
            request,
            queryset,
            title="Cancel schedules",
            perform=lambda s, reason: transition_schedule_cancel(
                schedule=s, actor=request_actor(request), reason=reason
            ),
        )


@admin.register(models.TransitionStep)
class TransitionStepAdmin(ReadOnlyAdmin):
    portfolio_path = "schedule__portfolio"
    list_display = ["schedule", "index", "due_date", "status", "applied_at", "applied_by"]
    list_filter = ["status"]


# --- the audit trail -------------------------------------------------------------------------
