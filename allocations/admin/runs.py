"""Runs with their largest moves and every line a link away (approve, reject); schedules with their steps (cancel)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import F
from django.db.models.functions import Abs
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from allocations import display, models
from allocations.services.approvals import allocation_run_approve, allocation_run_reject
from allocations.services.schedules import transition_schedule_cancel

from .base import GrantedPortfolioFilter, ReadOnlyAdmin, reason_action
from .display import ReadableFields

LARGEST_MOVES = 50  # line rows on a run's page; the rest are one link away


def largest_moves(run, limit: int = LARGEST_MOVES):
    """The run's lines with the largest |target - current| first (ties by strategy code)."""
    return (
        models.AllocationLine.objects.filter(run=run)
        .select_related("strategy")
        .annotate(move=Abs(F("target_weight") - F("current_weight")))
        .order_by("-move", "strategy__code")[:limit]
    )


_RUN_DECISION = {
    "subject": "run",
    "permission": "allocations.approve_run",
    "denied": "you may not approve or reject runs of one of these portfolios",
}


@admin.register(models.AllocationRun)
class AllocationRunAdmin(ReadableFields, ReadOnlyAdmin):
    percent_fields = ("turnover", "cash_weight", "ex_ante_volatility")
    money_fields = ("total_equity",)
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
    actions = ["approve", "reject"]
    exclude = ["explanation"]
    # Every line as an inline made a 1,000-strategy run's page 2.4 MB (seconds to render): the
    # largest moves are shown, and every line is a link away (the line list, paginated).
    readonly_fields = ["run_summary", "lines_moved"]

    class Media:
        css = {"all": ["allocations/admin.css"]}

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("portfolio", "requested_by", "decided_by")
        return queryset.defer("explanation")  # every strategy's stages; only the summary reads it, once

    @admin.display(description="summary")
    def run_summary(self, obj):
        e = obj.explanation or {}
        # format_html escapes its arguments into SafeStrings, which take no format spec
        # ("{:.2%}" raised ValueError, and the admin showed "-"): the numbers are formatted first.
        return format_html(
            "ex-ante volatility {} · effective strategies {} · cash {} · turnover {} · fallbacks: {}",
            display.percent(obj.ex_ante_volatility),
            f"{obj.effective_strategies:.1f}",
            display.percent(obj.cash_weight),
            display.percent(obj.turnover),
            ", ".join(e.get("fallbacks", [])) or "none",
        )

    @admin.display(description="lines")
    def lines_moved(self, obj):
        total = obj.lines.count()
        url = f"{reverse('admin:allocations_allocationline_changelist')}?run__id__exact={obj.pk}"
        link = format_html('<a href="{}">all {} lines</a>', url, total)
        lines = list(largest_moves(obj))
        if not lines:
            return link
        rows = format_html_join(
            "",
            '<tr class="line-move"><td>{}</td>' + '<td class="num">{}</td>' * 5 + "<td>{}</td></tr>",
            (
                (
                    line.strategy.code,
                    display.percent(line.current_weight),
                    display.percent(line.target_weight),
                    display.percent(line.target_weight - line.current_weight, signed=True),
                    display.money(line.target_amount, obj.portfolio.base_currency),
                    display.percent(line.risk_contribution),
                    " ".join(filter(None, [line.binding_limit, *map(str, line.flags or [])])),
                )
                for line in lines
            ),
        )
        header = (
            "<tr><th>strategy</th><th>current</th><th>target</th><th>move</th><th>target amount</th>"
            "<th>risk contribution</th><th>limit, flags</th></tr>"
        )
        title = format_html("the {} largest moves (|target − current|) of {}", len(lines), link)
        return format_html("<p>{}</p><table>" + header + "{}</table>", title, rows)

    approve = reason_action(
        "Approve selected runs (four eyes: not your own)", "Approve runs", allocation_run_approve, **_RUN_DECISION
    )
    reject = reason_action("Reject selected runs", "Reject runs", allocation_run_reject, **_RUN_DECISION)


@admin.register(models.AllocationLine)
class AllocationLineAdmin(ReadableFields, ReadOnlyAdmin):
    """Reached from a run's page (``?run__id__exact=``): all its lines, paginated."""

    percent_fields = (
        "current_weight",
        "base_weight",
        "signal_weight",
        "smoothed_weight",
        "target_weight",
        "momentum_weight",
        "risk_contribution",
        "limit_excess",
    )
    money_fields = ("target_amount",)
    portfolio_path = "run__portfolio"
    list_display = ["strategy", "current_weight", "target_weight", "move", "binding_limit", "run"]
    list_select_related = ["run__portfolio", "strategy__portfolio"]
    search_fields = ["strategy__code"]
    show_full_result_count = False

    def get_queryset(self, request):
        # a run's explanation holds every strategy: decoding it once per row was most of the page's time
        return super().get_queryset(request).defer("run__explanation")

    @admin.display(description="move")
    def move(self, obj):
        return display.percent(obj.target_weight - obj.current_weight, signed=True)


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

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("portfolio", "run").defer("run__explanation")

    inlines = [TransitionStepInline]
    actions = ["cancel"]

    cancel = reason_action(
        "Cancel selected schedules (funds stay where they are)",
        "Cancel schedules",
        transition_schedule_cancel,
        subject="schedule",
        permission="allocations.approve_run",
        denied="you may not cancel schedules of one of these portfolios",
    )


@admin.register(models.TransitionStep)
class TransitionStepAdmin(ReadOnlyAdmin):
    portfolio_path = "schedule__portfolio"
    list_display = ["schedule", "index", "due_date", "status", "applied_at", "applied_by"]
    list_filter = ["status"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("weights")  # a weight per strategy, shown on the step's own page


# --- the audit trail -------------------------------------------------------------------------
