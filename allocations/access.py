"""Who acts, and on which portfolio they may: one rule for the API, the dashboard and the admin.

``portfolio_for(request, slug, perm)``: 404 when the user cannot view the portfolio (or it does not
exist), 403 (``PermissionDenied``) when they can view it but do not hold ``perm`` on it. A service
that refuses who asks raises ``errors.NotPermitted``, answered 403 as well, never 409.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts import roles
from allocations.models import Portfolio
from allocations.selectors.portfolios import portfolio_for_user, user_may
from allocations.services.actors import Actor


def portfolio_for(request, slug: str, perm: str = roles.VIEW) -> Portfolio:
    """The portfolio ``slug`` if the request's user may ``perm`` (a codename) on it; once per request."""
    cache = request.__dict__.setdefault("_portfolio_cache", {})
    if (slug, perm) not in cache:
        portfolio = portfolio_for_user(user=request.user, slug=slug)
        if portfolio is None:
            raise Http404(f"no portfolio {slug!r}")
        if not user_may(user=request.user, perm=perm, portfolio=portfolio):
            raise PermissionDenied(f"you may not {perm.replace('_', ' ')} on portfolio {slug!r}")
        cache[(slug, perm)] = portfolio
    return cache[(slug, perm)]


def actor_of(request, *, via: str | None = None) -> Actor:
    """The acting user, labelled with how they came in: ``via`` (``web`` for the dashboard, ``admin``),
    else, for an API request, ``token`` or ``session`` by how it authenticated (a token sets ``auth``)."""
    if via is None:
        via = "token" if request.auth is not None else "session"
    return Actor.of_user(request.user, via=via)
