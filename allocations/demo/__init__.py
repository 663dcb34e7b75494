"""The demo: portfolios with synthetic strategy returns, signals, funds, and one user per role.

- ``seed``: ``demo_seed``, the portfolios ``demo`` and ``demo-b`` and the users, at the moment
  given as ``now`` (default: the wall clock, read there once);
- ``world``: the sectors, the users, the first signals, the seed's actor;
- ``returns``: synthetic returns on business days;
- ``history``: the business days lived through before ``now`` (``HISTORY_DAYS`` for ``seed_demo``).
"""

from allocations.demo.history import HISTORY_DAYS as HISTORY_DAYS
from allocations.demo.seed import SeedReport as SeedReport
from allocations.demo.seed import demo_seed as demo_seed

__all__ = ["HISTORY_DAYS", "SeedReport", "demo_seed"]
