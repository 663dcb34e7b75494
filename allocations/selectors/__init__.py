"""Every read of the allocation domain, in one package.

- ``portfolios``: the portfolios a user may see (permission filtering in one place), a
  portfolio's date;
- ``policies``, ``strategies`` (with sectors and signals), ``funds`` (with equity changes):
  a portfolio's rows, newest first (``ordering``) where they are a history;
- ``audit``: the audit trail's rows and its verification;
- ``idempotency``: the API's idempotency records;
- ``panels``: the rows a rebalance turns into arrays (universe, returns panel, funds, signals,
  the previous run's momentum);
- ``performance``: realised performance, risk and sector exposures;
- ``runs``: a portfolio's runs and schedules, a stored run's outcome and the steps it plans.

Selectors return typed values and raise no HTTP error; writes live in ``allocations.services``.
"""
