"""Portfolios, sectors, strategies, their returns and signals, policy versions, funds and equity decisions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.utils.html import format_html, format_html_join

from allocations import display, engine, models
from allocations.errors import DomainError
from allocations.policy_fields import EDITABLE_FIELDS, POLICY_FIELDS, PolicyField
from allocations.selectors.portfolios import portfolio_list_for_user
from allocations.services.equity import equity_change_approve, equity_change_reject
from allocations.services.policies import policy_change_request, policy_proposal_approve, policy_proposal_reject

from .base import GrantedPortfolioFilter, PortfolioScopedAdmin, ReadOnlyAdmin, reason_action, request_actor
from .display import ReadableFields
from .text_forms import VisibleTextForm


def _policy_validator(declared: PolicyField):
    """The admin form's check of one field, from the one declaration of the policy's ranges."""

    def validate(value):
        try:
            declared.validate(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    return validate


@admin.register(models.Portfolio)
class PortfolioAdmin(PortfolioScopedAdmin):
    portfolio_path = "pk"
    form = VisibleTextForm
    list_display = ["slug", "name", "base_currency", "total_equity", "allocated_capital", "strategy_count"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["current_allocation"]

    class Media:
        css = {"all": ["allocations/admin.css"]}  # the allocation table's numbers, right-aligned

    def get_readonly_fields(self, request, obj=None):
        # The equity moves money (funds are fractions of it): once the portfolio exists it changes
        # only by its own audited decision (POST .../equity/, the equity changes' actions here).
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "slug", "base_currency", "total_equity"]

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None else self.prepopulated_fields

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
        return display.money(obj._capital or 0, obj.base_currency)

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
                display.money(f.amount, obj.base_currency),
                display.percent(f.amount / obj.total_equity) if obj.total_equity else display.MISSING,
            )
            for f in funds.order_by("-amount")
        ]
        if not rows:
            return "no funds"
        body = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
            rows,
        )
        header = "<tr><th>strategy</th><th>sector</th><th>amount</th><th>of equity</th></tr>"
        return format_html("<table>" + header + "{}</table>", body)


@admin.register(models.Sector)
class SectorAdmin(admin.ModelAdmin):
    form = VisibleTextForm
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


class StrategyRowsAdmin(ReadOnlyAdmin):
    """Read-only rows that belong to a portfolio through their strategy (returns, funds): scoped,
    filtered and listed with the strategy's portfolio in the same query."""

    portfolio_path = "strategy__portfolio"
    list_filter = [GrantedPortfolioFilter]
    list_select_related = ["strategy__portfolio"]


@admin.register(models.StrategyReturn)
class StrategyReturnAdmin(StrategyRowsAdmin):
    list_display = ["strategy", "date", "value"]
    search_fields = ["strategy__code"]
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(models.SectorSignal)
class SectorSignalAdmin(ReadOnlyAdmin):
    list_display = ["portfolio", "sector", "action", "confidence", "as_of", "source"]
    list_filter = [GrantedPortfolioFilter, "sector", "action"]


# --- policies: an edit is a new version ------------------------------------------------------


@admin.register(models.AllocationPolicy)
class AllocationPolicyAdmin(PortfolioScopedAdmin):
    """Saving a policy here goes through the policy service: a change that only tightens makes a
    new version at once (audited), any other a proposal for a second risk officer (Policy
    proposals); the version you edited stays as it was, as do the runs that used it."""

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
            change = policy_change_request(
                portfolio=obj.portfolio,
                actor=request_actor(request),
                reason=form.cleaned_data.get("reason", ""),
                changes=changes,
            )
        except (DomainError, engine.EngineError) as exc:
            self.message_user(request, f"not saved: {exc}", messages.ERROR)
            return
        policy = change.policy
        if change.proposal is not None:
            self.message_user(
                request,
                f"proposed as policy proposal {change.proposal.pk} of {obj.portfolio.slug}: the policy in force "
                "stays until a second risk officer approves it",
                messages.WARNING,
            )
        elif policy.pk != obj.pk:
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
class FundAdmin(ReadableFields, StrategyRowsAdmin):
    """Funds change only through the services, which audit every change."""

    money_fields = ("amount",)

    list_display = ["strategy", "amount", "updated_at"]


@admin.register(models.EquityChange)
class EquityChangeAdmin(ReadableFields, ReadOnlyAdmin):
    """A portfolio's equity changes only through its service (a risk officer's decision, audited)."""

    money_fields = ("old_equity", "new_equity")

    list_display = ["requested_at", "portfolio", "old_equity", "new_equity", "status", "requested_by", "decided_by"]
    list_filter = [GrantedPortfolioFilter, "status"]
    list_select_related = ["portfolio", "requested_by", "decided_by"]
    actions = ["approve", "reject"]

    approve = reason_action(
        "Approve selected equity changes (four eyes: not your own)",
        "Approve equity changes",
        equity_change_approve,
        subject="change",
    )
    reject = reason_action(
        "Reject selected equity changes", "Reject equity changes", equity_change_reject, subject="change"
    )


@admin.register(models.PolicyProposal)
class PolicyProposalAdmin(ReadOnlyAdmin):
    """A policy change that does not only tighten waits here for a second risk officer (with a reason)."""

    list_display = ["requested_at", "portfolio", "base_version", "changes", "status", "requested_by", "decided_by"]
    list_filter = [GrantedPortfolioFilter, "status"]
    list_select_related = ["portfolio", "base_policy", "requested_by", "decided_by"]
    actions = ["approve", "reject"]

    @admin.display(description="base version")
    def base_version(self, obj):
        return obj.base_policy.version if obj.base_policy else None

    approve = reason_action(
        "Approve selected policy proposals (four eyes: not your own)",
        "Approve policy proposals",
        policy_proposal_approve,
        subject="proposal",
    )
    reject = reason_action(
        "Reject selected policy proposals", "Reject policy proposals", policy_proposal_reject, subject="proposal"
    )
