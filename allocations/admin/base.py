"""What every admin page of the domain shares: portfolio scoping, read-only pages, actions that ask for a reason."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from allocations import engine
from allocations.access import actor_of
from allocations.errors import DomainError
from allocations.selectors.portfolios import portfolio_list_for_user
from allocations.services.actors import Actor


def request_actor(request) -> Actor:
    return actor_of(request, via="admin")


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


def with_reason(modeladmin, request, queryset, *, title: str, perform):
    """An admin action that asks for a reason first, then calls ``perform(obj, reason)`` per row."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    perform(obj, form.cleaned_data["reason"])
                    done += 1
                except (DomainError, engine.EngineError) as exc:
                    modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
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


def reason_action(description: str, title: str, service, *, subject: str, permission: str = "", denied: str = ""):
    """An admin action that asks for a reason, then calls ``service(<subject>=row, actor=..., reason=...)`` per row.

    With ``permission``, the user must hold it on every selected row's portfolio; else ``denied`` is shown
    and nothing is done.
    """

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        if permission and not all(request.user.has_perm(permission, row.portfolio) for row in queryset):
            modeladmin.message_user(request, denied, messages.ERROR)
            return None
        return with_reason(
            modeladmin,
            request,
            queryset,
            title=title,
            perform=lambda row, reason: service(**{subject: row}, actor=request_actor(request), reason=reason),
        )

    return action


# --- portfolios and reference data -----------------------------------------------------------
