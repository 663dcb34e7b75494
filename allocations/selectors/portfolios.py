"""Reads of portfolios: the ones a user may see (permission filtering in one place), and a portfolio's date.

Every function returns model instances, querysets or plain values and raises no HTTP error: a
missing row is ``None``; the API decides what that means.
"""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from allocations import clock
from allocations.calendar import local_date
from allocations.models import Portfolio

# --- reads of the REST API: permission filtering in one place -------------------------------
# A portfolio the user may not view is answered exactly like a missing one (404); one the user
# may view but not act on gets 403. Groups hold no global portfolio permission: only
# per-portfolio grants (django-guardian) count.


def portfolio_list_for_user(*, user) -> QuerySet[Portfolio]:
    """The portfolios ``user`` may view (a superuser: all)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Portfolio.objects.none()
    return get_objects_for_user(
        user, "allocations.view_portfolio", klass=Portfolio, accept_global_perms=False
    ).order_by("slug")


def portfolio_for_user(*, user, slug: str) -> Portfolio | None:
    """The portfolio ``slug`` if ``user`` may view it; None when it is missing or not viewable."""
    return portfolio_list_for_user(user=user).filter(slug=slug).first()


def user_may(*, user, perm: str, portfolio: Portfolio) -> bool:
    """Whether ``user`` holds ``perm`` (a codename of ``allocations``) on ``portfolio``."""
    return perm == "view_portfolio" or user.has_perm(f"allocations.{perm}", portfolio)


def portfolio_today(portfolio: Portfolio) -> date:
    """Today's date in the portfolio's time zone (steps fall on its business days)."""
    return local_date(clock.now(), portfolio.timezone)
