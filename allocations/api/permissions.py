"""Who may do what on a portfolio: the views ask here, the selectors answer.

``portfolio_for(request, slug, perm)`` is the only way a view gets its portfolio: 404 when the
user cannot view it (or it does not exist), 403 when the user can view it but lacks ``perm``.
"""

from __future__ import annotations

from accounts import roles
from allocations.models import Portfolio
from allocations.selectors import portfolio_get_for_user
from allocations.services.actors import Actor

VIEW = roles.VIEW
INGEST = roles.INGEST
REBALANCE = roles.REBALANCE
MANAGE_POLICY = roles.MANAGE_POLICY
APPROVE = roles.APPROVE


def portfolio_for(request, slug: str, perm: str = VIEW) -> Portfolio:
    cache = request.__dict__.setdefault("_portfolio_cache", {})
    if (slug, perm) not in cache:
        cache[(slug, perm)] = portfolio_get_for_user(user=request.user, slug=slug, perm=perm)
    return cache[(slug, perm)]


def actor_of(request) -> Actor:
    """The acting user, labelled with how they came in (token or session)."""
    from knox.auth import TokenAuthentication

    via = "token" if isinstance(request.successful_authenticator, TokenAuthentication) else "session"
    return Actor.of_user(request.user, via=via)
