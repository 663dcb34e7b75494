"""The web admin for risk officers.

Staff see only the portfolios granted to them (the same per-portfolio grants as the API), and
every change goes through the services the API calls: a policy edit saves a new version, runs
are approved or rejected, schedules cancelled, each audited. Funds, runs and the audit trail
are read-only here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from . import models
from .errors import DomainError
from .policy_fields import EDITABLE_FIELDS, POLICY_FIELDS, PolicyField
from .selectors.core import portfolio_list_for_user
from .services.actors import Actor
from .services.approvals import allocation_run_approve, allocation_run_reject
from .services.policies import policy_create_version
from .services.schedules import transition_schedule_cancel


def _policy_validator(declared: PolicyField):
    """The admin form's check of one field, from the one declaration of the policy's ranges."""

    def validate(value):
        try:
            declared.validate(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    return validate


def _actor(request) -> Actor:
    return Actor.of_user(request.user, via="admin")


class PortfolioScopedAdmin(admin.ModelAdmin):
    """Rows of the portfolios the user may view; ``portfolio_path`` leads from the row to its portfolio."""

    portfolio_path = "portfolio"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.portfolio_path}__in": portfolio_list_for_user(user=request.user)})

    def _portfolio_of(self, obj):
        for part in self.portfolio_path.split("__"):
            obj = getattr(obj, part)
        return obj

    def _may(self, request, codename: str, obj=None) -> bool:
        if obj is None:
            return request.user.is_superuser or request.user.is_staff
        return request.user.has_perm(f"allocations.{codename}", self._portfolio_of(obj))


class GrantedPortfolioFilter(admin.SimpleListFilter):
    """Filter by portfolio, offering only the portfolios the user may view."""

    title = "portfolio"
    parameter_name = "portfolio"

    def lookups(self, request, model_admin):
        return [(p.pk, p.slug) for p in portfolio_list_for_user(user=request.user)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{model_admin_path(queryset.model): self.value()})
        return queryset


def model_admin_path(model) -> str:
    admin_class = admin.site._registry[model]
    return "pk" if admin_class.portfolio_path == "pk" else f"{admin_class.portfolio_path}__pk"


class ReadOnlyAdmin(PortfolioScopedAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)


def _with_reason(modeladmin, request, queryset, *, title: str, perform):
    """An admin action that asks for a reason first, then calls ``perform(obj, reason)`` per row."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    perform(obj, form.cleaned_data["reason"])
                    done += 1
                except DomainError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{title}: {done} done", messages.SUCCESS)
            return None
    else:
        form = ReasonForm()
    return TemplateResponse(
        request,
        "admin/allocations/reason_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action": request.POST.get("action"),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "opts": modeladmin.model._meta,
        },
    )


# --- portfolios and reference data -----------------------------------------------------------


@admin.register(models.Portfolio)
class PortfolioAdmin(PortfolioScopedAdmin):
    portfolio_path = "pk"
    list_display = ["slug", "name", "base_currency", "total_equity", "allocated_capital", "strategy_count"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["current_allocation"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request).annotate(
            _capital=Sum("strategies__fund__amount"), _strategies=Count("strategies", distinct=True)
        )
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=portfolio_list_for_user(user=request.user))

    def _portfolio_of(self, obj):
        return obj

    @admin.display(description="allocated capital", ordering="_capital")
    def allocated_capital(self, obj):
        return obj._capital or 0

    @admin.display(description="strategies", ordering="_strategies")
    def strategy_count(self, obj):
        return obj._strategies

    @admin.display(description="current allocation")
    def current_allocation(self, obj):
        funds = models.Fund.objects.filter(strategy__portfolio=obj).select_related("strategy__sector")
        rows = [
            (
                f.strategy.code,
                f.strategy.sector.code,
                f"{f.amount:,.2f}",
                f"{float(f.amount / obj.total_equity):.4%}" if obj.total_equity else "-",
            )
            for f in funds.order_by("-amount")
        ]
        if not rows:
            return "no funds"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td style='text-align:right'>{}</td><td style='text-align:right'>{}</td></tr>",
            rows,
        )
        header = "<tr><th>strategy</th><th>sector</th><th>amount</th><th>of equity</th></tr>"
        return format_html("<table>" + header + "{}</table>", body)


@admin.register(models.Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(models.Strategy)
class StrategyAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "portfolio", "sector", "status", "risk_budget", "fund_amount"]
    list_filter = [GrantedPortfolioFilter, "sector", "status"]
    search_fields = ["code", "name"]
    list_select_related = ["portfolio", "sector", "fund"]

    @admin.display(description="fund")
    def fund_amount(self, obj):
        return getattr(getattr(obj, "fund", None), "amount", None)


@admin.register(models.StrategyReturn)
class StrategyReturnAdmin(ReadOnlyAdmin):
    portfolio_path = "strategy__portfolio"
    list_display = ["strategy", "date", "value"]
    list_filter = [GrantedPortfolioFilter]
    search_fields = ["strategy__code"]
    date_hierarchy = "date"
    list_select_related = ["strategy__portfolio"]
    show_full_result_count = False


@admin.register(models.SectorSignal)
class SectorSignalAdmin(ReadOnlyAdmin):
    list_display = ["portfolio", "sector", "action", "confidence", "as_of", "source"]
    list_filter = [GrantedPortfolioFilter, "sector", "action"]


# --- policies: an edit is a new version ------------------------------------------------------


@admin.register(models.AllocationPolicy)
class AllocationPolicyAdmin(PortfolioScopedAdmin):
    """Saving a policy here makes a new version through the policy service (audited);
    the version you edited stays as it was, as do the runs that used it."""

    list_display = [
        "portfolio",
        "version",
        "method",
        "max_single_strategy_exposure",
        "max_sector_exposure",
        "max_total_risk",
        "approval_threshold",
        "created_at",
        "created_by",
    ]
    list_filter = [GrantedPortfolioFilter, "method"]
    fields = ["portfolio", "version", "reason", *EDITABLE_FIELDS, "created_at", "created_by"]
    readonly_fields = ["portfolio", "version", "created_at", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return self._may(request, "manage_policy", obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "reason" in form.base_fields:
            form.base_fields["reason"].required = True
            form.base_fields["reason"].help_text = "Why the policy changes (kept in the audit trail)."
            form.base_fields["reason"].initial = ""
        for name, declared in POLICY_FIELDS.items():
            form_field = form.base_fields.get(name)
            if form_field is not None and declared.bounds is not None:
                form_field.validators.append(_policy_validator(declared))
                form_field.widget.attrs.update({"min": declared.bounds.low, "max": declared.bounds.high})
                form_field.help_text = f"{form_field.help_text} Allowed: {declared.bounds.describe()}.".strip()
        return form

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.changed_data}
        try:
            policy = policy_create_version(
                portfolio=obj.portfolio,
                actor=_actor(request),
                reason=form.cleaned_data.get("reason", ""),
                changes=changes,
            )
        except DomainError as exc:
            self.message_user(request, f"not saved: {exc.message}", messages.ERROR)
            return
        if policy.pk != obj.pk:
            self.message_user(
                request, f"saved as policy version {policy.version} of {obj.portfolio.slug}", messages.SUCCESS
            )
        else:
            self.message_user(request, "nothing changed", messages.INFO)

    def save_related(self, request, form, formsets, change):
        pass  # the service wrote everything

    def log_change(self, request, obj, message):
        pass  # the audit trail records the change; the admin log would point at the old version

    def get_changeform_initial_data(self, request):
        return {}


# --- funds, runs, schedules ------------------------------------------------------------------


@admin.register(models.Fund)
class FundAdmin(ReadOnlyAdmin):
    """Funds change only through the services, which audit every change."""

    portfolio_path = "strategy__portfolio"
    list_display = ["strategy", "amount", "updated_at"]
    list_filter = [GrantedPortfolioFilter]
    list_select_related = ["strategy__portfolio"]


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
        return format_html(
            "ex-ante volatility {:.2%} · effective strategies {:.1f} · cash {:.2%} · turnover {:.2%} · fallbacks: {}",
            obj.ex_ante_volatility,
            obj.effective_strategies,
            obj.cash_weight,
            obj.turnover,
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
        return _with_reason(
            self,
            request,
            queryset,
            title="Approve runs",
            perform=lambda run, reason: allocation_run_approve(run=run, actor=_actor(request), reason=reason),
        )

    @admin.action(description="Reject selected runs")
    def reject(self, request, queryset):
        if not self._check(request, queryset):
            return None
        return _with_reason(
            self,
            request,
            queryset,
            title="Reject runs",
            perform=lambda run, reason: allocation_run_reject(run=run, actor=_actor(request), reason=reason),
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
        return _with_reason(
            self,
            request,
            queryset,
            title="Cancel schedules",
            perform=lambda s, reason: transition_schedule_cancel(schedule=s, actor=_actor(request), reason=reason),
        )


@admin.register(models.TransitionStep)
class TransitionStepAdmin(ReadOnlyAdmin):
    portfolio_path = "schedule__portfolio"
    list_display = ["schedule", "index", "due_date", "status", "applied_at", "applied_by"]
    list_filter = ["status"]


# --- the audit trail -------------------------------------------------------------------------


@admin.register(models.AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
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


@admin.register(models.IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "key", "method", "path", "status_code"]
    readonly_fields = [f.name for f in models.IdempotencyRecord._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
