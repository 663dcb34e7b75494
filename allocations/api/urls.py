"""``/api/v1/`` routes. Paths are a contract (``../shared/contract/check``): keep them as they are.

The specification's allocation endpoints have no trailing slash
(``.../allocation/current``); the same paths with a slash also work, hidden from the schema.
"""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.utils import extend_schema

from accounts.api import TokenCreateApi

from .views import (
    allocation,
    audit,
    equity,
    policy,
    portfolios,
    returns,
    runs,
    schedules,
    signals,
    strategies,
    webhooks,
)


def _with_slash_alias(route: str, view, name: str) -> list:
    """``route`` and ``route/``; the alias is left out of the OpenAPI schema."""
    hidden = extend_schema(exclude=True)(type(f"{view.__name__}Alias", (view,), {}))
    return [path(route, view.as_view(), name=name), path(f"{route}/", hidden.as_view())]


allocation_patterns = [
    *_with_slash_alias("current", allocation.AllocationCurrentApi, "allocation-current"),
    *_with_slash_alias("rebalance", allocation.AllocationRebalanceApi, "allocation-rebalance"),
    *_with_slash_alias("performance", allocation.AllocationPerformanceApi, "allocation-performance"),
    *_with_slash_alias("methods", allocation.AllocationMethodListApi, "allocation-methods"),
    *_with_slash_alias("method/<str:method>", allocation.AllocationMethodSetApi, "allocation-method-set"),
]

portfolio_patterns = [
    path("", portfolios.PortfolioDetailApi.as_view(), name="portfolio-detail"),
    path("allocation/", include(allocation_patterns)),
    path("strategies/", strategies.StrategyCollectionApi.as_view(), name="strategy-list"),
    path("strategies/<str:code>/", strategies.StrategyUpdateApi.as_view(), name="strategy-detail"),
    path("strategies/<str:code>/retire/", strategies.StrategyRetireApi.as_view(), name="strategy-retire"),
    path("returns/", returns.ReturnCollectionApi.as_view(), name="return-list"),
    path("signals/", signals.SignalCollectionApi.as_view(), name="signal-list"),
    path("runs/", runs.RunListApi.as_view(), name="run-list"),
    path("runs/<str:allocation_id>/", runs.RunDetailApi.as_view(), name="run-detail"),
    *_with_slash_alias("runs/<str:allocation_id>/explanation", runs.RunExplanationApi, "run-explanation"),
    path("runs/<str:allocation_id>/approve/", runs.RunApproveApi.as_view(), name="run-approve"),
    path("runs/<str:allocation_id>/reject/", runs.RunRejectApi.as_view(), name="run-reject"),
    path("schedules/", schedules.ScheduleListApi.as_view(), name="schedule-list"),
    path("schedules/<int:schedule_id>/", schedules.ScheduleDetailApi.as_view(), name="schedule-detail"),
    path("schedules/<int:schedule_id>/cancel/", schedules.ScheduleCancelApi.as_view(), name="schedule-cancel"),
    path("policy/", policy.PolicyApi.as_view(), name="policy"),
    path("policy/proposals/", policy.PolicyProposalCollectionApi.as_view(), name="policy-proposal-list"),
    path(
        "policy/proposals/<int:proposal_id>/approve/",
        policy.PolicyProposalApproveApi.as_view(),
        name="policy-proposal-approve",
    ),
    path(
        "policy/proposals/<int:proposal_id>/reject/",
        policy.PolicyProposalRejectApi.as_view(),
        name="policy-proposal-reject",
    ),
    path("equity/", equity.EquityChangeCollectionApi.as_view(), name="equity-list"),
    path("equity/<int:change_id>/approve/", equity.EquityChangeApproveApi.as_view(), name="equity-approve"),
    path("equity/<int:change_id>/reject/", equity.EquityChangeRejectApi.as_view(), name="equity-reject"),
    path("audit/", audit.AuditListApi.as_view(), name="audit-list"),
    path("audit/export.csv", audit.AuditExportApi.as_view(), name="audit-export"),
    path("webhooks/", webhooks.WebhookCollectionApi.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>/", webhooks.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        webhooks.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path("outbox/", webhooks.OutboxListApi.as_view(), name="outbox-list"),
    path("outbox/<str:event_id>/", webhooks.OutboxDetailApi.as_view(), name="outbox-detail"),
    path("outbox/<str:event_id>/redeliver/", webhooks.OutboxRedeliverApi.as_view(), name="outbox-redeliver"),
]

app_name = "api"
urlpatterns = [
    path("auth/token/", TokenCreateApi.as_view(), name="token"),
    path("portfolios/", portfolios.PortfolioListApi.as_view(), name="portfolio-list"),
    path("portfolios/<str:slug>/", include(portfolio_patterns)),
]
