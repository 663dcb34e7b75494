"""Who may do what on a portfolio: the views ask here, the selectors answer.

``portfolio_for(request, slug, perm)`` is the only way a view gets its portfolio: 404 when the
user cannot view it (or it does not exist), 403 when the user can view it but lacks ``perm``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from knox.auth import TokenAuthentication

from accounts import roles
from allocations.models import Portfolio
from allocations.selectors.core import portfolio_for_user, user_may
from allocations.services.actors import Actor

VIEW = roles.VIEW
INGEST = roles.INGEST
REBALANCE = roles.REBALANCE
MANAGE_POLICY = roles.MANAGE_POLICY
APPROVE = roles.APPROVE


def portfolio_for(request, slug: str, perm: str = VIEW) -> Portfolio:
    """Raises ``Http404`` when the portfolio is missing or not viewable, ``PermissionDenied``
    when it is viewable but ``perm`` (a codename) is not granted on it."""
    cache = request.__dict__.setdefault("_portfolio_cache", {})
    if (slug, perm) not in cache:
        portfolio = portfolio_for_user(user=request.user, slug=slug)
        if portfolio is None:
            raise Http404(f"no portfolio {slug!r}")
        if not user_may(user=request.user, perm=perm, portfolio=portfolio):
            raise PermissionDenied(f"you may not {perm.replace('_', ' ')} on portfolio {slug!r}")
        cache[(slug, perm)] = portfolio
    return cache[(slug, perm)]


def actor_of(request) -> Actor:
    """The acting user, labelled with how they came in (token or session)."""
    via = "token" if isinstance(request.successful_authenticator, TokenAuthentication) else "session"
    return Actor.of_user(request.user, via=via)
