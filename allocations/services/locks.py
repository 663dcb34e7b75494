"""The portfolio lock: every write that moves money or decides for a portfolio takes it first.

A row lock (``SELECT ... FOR UPDATE``) on the portfolio serialises the rebalances, approvals,
steps, fund changes and policy versions of one portfolio across every web and worker process;
other portfolios are not held up. It lasts until the surrounding transaction ends. On PostgreSQL
the wait is bounded by ``PORTFOLIO_LOCK_TIMEOUT_MS``: a change stuck behind another answers
``PortfolioBusyError`` (409, retry) instead of holding a worker forever.
"""

from __future__ import annotations

from django.conf import settings

from allocations import db
from allocations.errors import PortfolioBusyError
from allocations.models import Portfolio


def portfolio_lock(portfolio_id: int) -> Portfolio:
    """Lock the portfolio's row for the rest of the current transaction and return it fresh."""
    portfolio = db.row_lock(Portfolio.objects.filter(pk=portfolio_id), timeout_ms=settings.PORTFOLIO_LOCK_TIMEOUT_MS)
    if portfolio is None:
        raise PortfolioBusyError(
            "another change of this portfolio is still running; retry in a few seconds", field="portfolio"
        )
    return portfolio
