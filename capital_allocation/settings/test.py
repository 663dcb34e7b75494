"""Test settings: the same as base, with fast password hashing."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests build rows with factories, which write no audit row and so leave a portfolio's version
# (allocations.selectors.current) where it was, and they reuse ids after a rollback: a cached answer
# could outlive its test. Every write of the application is audited; the tests of the cache itself
# (tests/allocations/selectors/test_current.py, tests/allocations/api/test_current_allocation_cache.py)
# turn a real cache back on.
CACHES = {**CACHES, "answers": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}  # noqa: F405
# The login limit's counts in this process's memory (cleared by the fresh_throttle_counts fixture): the
# suites of several checkouts may run on one machine at once. tests/capital_allocation/test_throttles.py
# counts into one real store from two processes.
CACHES["shared"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cae-shared"}

# The tests' webhook receivers listen on this machine (allowed here only; production allows none).
WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
