"""The portfolio lock: every write that moves money or decides for a portfolio takes it first.

A row lock (``SELECT ... FOR UPDATE``) on the portfolio serialises the rebalances, approvals,
steps, fund changes and policy versions of one portfolio across every web and worker process;
other portfolios are not held up. It lasts until the surrounding transaction ends.
"""

from __future__ import annotations

from allocations.models import Portfolio


def portfolio_lock(portfolio_id: int) -> Portfolio:
    """Lock the portfolio's row for the rest of the current transaction and return it fresh."""
    return Portfolio.objects.select_for_update().get(pk=portfolio_id)
