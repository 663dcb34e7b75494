"""The web admin for risk officers.

Staff see only the portfolios granted to them (the same per-portfolio grants as the API), and
every change goes through the services the API calls: a policy edit saves a new version, runs
are approved or rejected, schedules cancelled, each audited. Funds, runs and the audit trail
are read-only here.
"""

from . import audit, jobs, policies, runs  # noqa: F401 - importing registers the pages
