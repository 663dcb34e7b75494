"""Sign-in lockout (django-axes): who the client is, and what a locked-out client is told.

Failed sign-ins are counted in the database, so every web process counts into one store, by address and
by username, on the browser's, the admin's and the token API's sign-in. How a lock is lifted: docs/runbook.md.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from capital_allocation.problems import problem_response
from capital_allocation.throttles import peer_address


class LockoutBackend(AxesStandaloneBackend):
    """axes' check, for every sign-in that comes with a request (the forms, the token API).

    ``AXES_FAILURE_LIMIT`` failures lock that address, and that username, for ``AXES_COOLOFF_TIME`` or
    until an administrator lifts the lock (admin *Access attempts*, ``axes_reset_username`` /
    ``axes_reset_ip``). A locked attempt is refused before its password is hashed: guessing costs no CPU.

    A call without a request (``manage.py``, the test client's ``login``) has no client to count
    or lock; axes would refuse it outright, so it is passed on to the password backends.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_address(request) -> str | None:
    """The address axes counts: the peer, or what the trusted proxies say (``TRUSTED_PROXY_COUNT``),
    the same as the API's throttles (a client-written X-Forwarded-For buys no attempts)."""
    return peer_address(request)


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-ins for this username or from this address: signing in is locked for {minutes} "
        "minutes, or until an administrator lifts the lock."
    )


def locked_out(request, original_response=None, credentials=None):
    """429: a problem for the API, the sign-in form with the message for a browser."""
    if request.path.startswith("/api/"):
        response = problem_response(429, "locked-out", lockout_message())
    else:
        form = AuthenticationForm(request)
        context = {"form": form, "locked_out": lockout_message(), "next": request.POST.get("next", "")}
        response = render(request, "pages/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
