"""The dashboard's routes: ``/`` (the portfolios), ``/portfolios/{slug}/...`` (a portfolio's pages, data, controls)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "pages"
urlpatterns = [
    path("", views.portfolio_list, name="home"),
    path("portfolios/<slug:slug>/", views.dashboard, name="dashboard"),
    path("portfolios/<slug:slug>/data/<str:part>.json", views.dashboard_data, name="data"),
    path("portfolios/<slug:slug>/method/", views.method_set, name="method"),
    path("portfolios/<slug:slug>/rebalance/", views.rebalance, name="rebalance"),
    path("portfolios/<slug:slug>/runs/", views.run_index, name="runs"),
    path("portfolios/<slug:slug>/runs/<str:allocation_id>/", views.run_detail, name="run"),
    path(
        "portfolios/<slug:slug>/runs/<str:allocation_id>/approve/",
        views.run_decide,
        {"decision": "approve"},
        name="run-approve",
    ),
    path(
        "portfolios/<slug:slug>/runs/<str:allocation_id>/reject/",
        views.run_decide,
        {"decision": "reject"},
        name="run-reject",
    ),
    path("portfolios/<slug:slug>/schedules/<int:schedule_id>/cancel/", views.schedule_cancel, name="schedule-cancel"),
    path(
        "portfolios/<slug:slug>/policy/proposals/<int:proposal_id>/approve/",
        views.policy_proposal_decide,
        {"decision": "approve"},
        name="policy-proposal-approve",
    ),
    path(
        "portfolios/<slug:slug>/policy/proposals/<int:proposal_id>/reject/",
        views.policy_proposal_decide,
        {"decision": "reject"},
        name="policy-proposal-reject",
    ),
]
