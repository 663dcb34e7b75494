"""Every read of the allocation domain, in one package.

- ``core``: portfolios (with permission filtering), policies, strategies, funds, runs,
  schedules, the audit trail;
- ``panels``: the rows a rebalance turns into arrays (universe, returns panel, funds, signals,
  the previous run's momentum);
- ``performance``: realised performance, risk and sector exposures;
- ``runs``: a stored run's outcome and the steps it plans.

Selectors return typed values and raise no HTTP error; writes live in ``allocations.services``.
"""
