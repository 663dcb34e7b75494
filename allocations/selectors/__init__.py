"""Every read of the allocation domain, a module per area (portfolios and who may see them, policies,
strategies, funds, runs, audit, idempotency; panels: the rows a rebalance turns into arrays;
performance, dashboard, current, jobs). Selectors return typed values and raise no HTTP error;
writes live in ``allocations.services``.
"""
