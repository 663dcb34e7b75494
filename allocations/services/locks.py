"""The portfolio lock: every write that moves money or decides for a portfolio takes it first.

A row lock (``SELECT ... FOR UPDATE``) on the portfolio serialises the rebalances, approvals,
steps, fund changes and policy versions of one portfolio across every web and worker process;
other portfolios are not held up. It lasts until the surrounding transaction ends. On PostgreSQL
the wait is bounded by ``PORTFOLIO_LOCK_TIMEOUT_MS``: a change stuck behind another answers
``PortfolioBusyError`` (409, retry) instead of holding a worker forever.
"""

from __future__ import annotations

from django.conf import settings
from django.db import OperationalError, connection

from allocations.errors import PortfolioBusyError
from allocations.models import Portfolio

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout


def portfolio_lock(portfolio_id: int) -> Portfolio:
    """Lock the portfolio's row for the rest of the current transaction and return it fresh."""
    if connection.vendor != "postgresql":
        return Portfolio.objects.select_for_update().get(pk=portfolio_id)
    with connection.cursor() as cursor:
        # SET LOCAL lasts until the transaction ends: the lock is taken inside it
        cursor.execute(f"SET LOCAL lock_timeout = {int(settings.PORTFOLIO_LOCK_TIMEOUT_MS)}")
    try:
        return Portfolio.objects.select_for_update().get(pk=portfolio_id)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise PortfolioBusyError(
                "another change of this portfolio is still running; retry in a few seconds", field="portfolio"
            ) from None
        raise
