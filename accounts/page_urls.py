"""``/accounts/``: sign-in and sign-out of the dashboard (a browser session) for every role."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from .views import SignInView

urlpatterns = [
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
