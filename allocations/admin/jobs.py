"""Jobs an operator can see (every execution and what it did), webhook endpoints and the outbox (redeliver).

Periodic tasks themselves (when each sweep runs) are django-celery-beat's own admin pages.
These pages are open to staff; rows are scoped to the portfolios granted to them like every other
page, changes need ``manage_policy`` (endpoints) or ``approve_run`` (redeliver) on the portfolio,
and every change goes through ``allocations.services.webhook_endpoints`` (endpoints) or
``allocations.services.webhook_delivery`` (redeliver).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from allocations import models
from allocations.errors import DomainError
from allocations.selectors.portfolios import portfolio_list_for_user
from allocations.services.webhook_delivery import outbox_event_redeliver
from allocations.services.webhook_endpoints import webhook_endpoint_create, webhook_endpoint_update
from allocations.services.webhook_targets import webhook_target_check

from .base import GrantedPortfolioFilter, PortfolioScopedAdmin, ReadOnlyAdmin, request_actor


class StaffPages:
    """Open to active staff (the rows are scoped by portfolio); no model permission is needed to look."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff


@admin.register(models.JobExecution)
class JobExecutionAdmin(StaffPages, ReadOnlyAdmin):
    list_display = ["job", "status", "started_at", "finished_at", "seconds", "portfolio", "what_it_did", "error"]
    list_filter = ["status", "job", GrantedPortfolioFilter]
    list_select_related = ["portfolio"]
    search_fields = ["job", "task_id", "error"]
    date_hierarchy = "started_at"
    readonly_fields = ["seconds", "what_it_did"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        # the sweeps belong to no portfolio; a portfolio's own jobs only to those who may see it
        return queryset.filter(Q(portfolio__isnull=True) | Q(portfolio__in=portfolio_list_for_user(user=request.user)))

    @admin.display(description="seconds")
    def seconds(self, obj):
        if obj.finished_at is None:
            return "running" if obj.status == obj.Status.RUNNING else "-"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.2f}"

    @admin.display(description="what it did")
    def what_it_did(self, obj):
        return ", ".join(f"{k}: {v}" for k, v in (obj.summary or {}).items() if k != "portfolios")[:300]


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = models.WebhookEndpoint
        fields = ["portfolio", "url", "description", "is_active"]

    def clean_url(self):
        # the service checks again at save; here the refusal is shown beside the field
        url = self.cleaned_data["url"]
        try:
            webhook_target_check(url)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        return url


@admin.register(models.WebhookEndpoint)
class WebhookEndpointAdmin(StaffPages, PortfolioScopedAdmin):
    """The secret is never on these pages: it is shown once, on the page that answers the creation."""

    form = WebhookEndpointForm
    list_display = ["portfolio", "url", "description", "is_active", "created_at"]
    list_filter = [GrantedPortfolioFilter, "is_active"]
    fields = ["portfolio", "url", "description", "is_active"]

    def get_readonly_fields(self, request, obj=None):
        return ["portfolio"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "portfolio":
            kwargs["queryset"] = portfolio_list_for_user(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request, obj=None):
        return self._may(request, "manage_policy", obj)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: deliveries keep their endpoint

    def save_model(self, request, obj, form, change):
        actor = request_actor(request)
        try:
            if change:
                webhook_endpoint_update(
                    endpoint=obj, actor=actor, url=obj.url, description=obj.description, is_active=obj.is_active
                )
            else:
                if not request.user.has_perm("allocations.manage_policy", obj.portfolio):
                    raise DomainError(f"you may not manage the policy of portfolio {obj.portfolio.slug!r}")
                created = webhook_endpoint_create(
                    portfolio=obj.portfolio, url=obj.url, description=obj.description, actor=actor
                )
                obj.pk = created.pk
                request._webhook_secret_once = created.secret
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def response_add(self, request, obj, post_url_continue=None):
        # the one place the secret is shown: this answer (not a message, which a cookie or the
        # session table would keep)
        secret = getattr(request, "_webhook_secret_once", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook endpoint added",
            "endpoint": obj,
            "secret": secret,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/allocations/webhook_secret_once.html", context)
        response["Cache-Control"] = "no-store"
        return response


class WebhookDeliveryInline(admin.TabularInline):
    model = models.WebhookDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ["endpoint", "status", "attempts", "next_attempt_at", "delivered_at", "tries"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="every try")
    def tries(self, obj):
        return format_html_join(
            "",
            "<div>#{} {} {} {}</div>",
            (
                (a.number, a.started_at.strftime("%Y-%m-%d %H:%M:%S"), a.status_code or "no answer", a.error)
                for a in obj.attempt_log.all()
            ),
        ) or format_html("{}", "none yet")


@admin.register(models.OutboxEvent)
class OutboxEventAdmin(StaffPages, ReadOnlyAdmin):
    list_display = ["public_id", "portfolio", "kind", "run", "step_index", "created_at", "delivery_status"]
    list_filter = [GrantedPortfolioFilter, "kind", "deliveries__status"]
    search_fields = ["public_id"]
    list_select_related = ["portfolio", "run", "step"]
    inlines = [WebhookDeliveryInline]
    actions = ["redeliver"]

    @admin.display(description="step")
    def step_index(self, obj):
        return obj.step.index if obj.step else "-"

    @admin.display(description="deliveries")
    def delivery_status(self, obj):
        return ", ".join(sorted(d.status for d in obj.deliveries.all())) or "no endpoint"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.action(description="Redeliver selected events to every active endpoint")
    def redeliver(self, request, queryset):
        done = 0
        for event in queryset:
            if not request.user.has_perm("allocations.approve_run", event.portfolio):
                self.message_user(request, f"you may not redeliver events of {event.portfolio}", messages.ERROR)
                continue
            done += outbox_event_redeliver(event=event, actor=request_actor(request))
        if done:
            self.message_user(request, f"{done} deliveries queued again", messages.SUCCESS)


@admin.register(models.WebhookDelivery)
class WebhookDeliveryAdmin(StaffPages, ReadOnlyAdmin):
    portfolio_path = "event__portfolio"
    list_display = ["event", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at", "last_error"]
    list_filter = ["status"]
    list_select_related = ["event", "endpoint"]


@admin.register(models.DeliveryAttempt)
class DeliveryAttemptAdmin(StaffPages, ReadOnlyAdmin):
    portfolio_path = "delivery__event__portfolio"
    list_display = ["delivery", "number", "started_at", "duration_ms", "status_code", "succeeded", "error"]
    list_filter = ["succeeded"]
    list_select_related = ["delivery"]


@admin.register(models.WorkerHeartbeat)
class WorkerHeartbeatAdmin(StaffPages, ReadOnlyAdmin):
    """Each Celery worker's last sign of life, as ``/health/`` reads it (a worker silent for a minute is down)."""

    list_display = ["hostname", "pid", "beat_at"]
    search_fields = ["hostname"]

    def get_queryset(self, request):
        return admin.ModelAdmin.get_queryset(self, request)  # workers belong to no portfolio
