"""The browser's sign-in page, which also tells a JSON client where its way in is."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import reverse


class SignInView(auth_views.LoginView):
    """``/accounts/login/`` for every role (a session for the dashboard).

    A client that accepts only JSON (an integration following a redirect from a page) is told how
    to sign in rather than handed an HTML form: POST this form, or get an API token.
    """

    template_name = "pages/login.html"

    def get(self, request, *args, **kwargs):
        if request.accepts("application/json") and not request.accepts("text/html"):
            return JsonResponse(
                {
                    "detail": "sign in with a form POST of username and password to this page (a browser "
                    "session), or get an API token",
                    "fields": ["username", "password"],
                    "token_endpoint": reverse("api:token"),
                    "next": request.GET.get(self.redirect_field_name, ""),
                }
            )
        return super().get(request, *args, **kwargs)
