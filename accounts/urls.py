"""``/api/v1/auth/`` routes of the accounts app (the token itself is issued at ``auth/token/``)."""

from __future__ import annotations

from django.urls import path

from .api import TokenDeleteAllApi, TokenDeleteApi

app_name = "accounts"
urlpatterns = [
    path("logout/", TokenDeleteApi.as_view(), name="logout"),
    path("logout-all/", TokenDeleteAllApi.as_view(), name="logout-all"),
]
