"""Per-user throttling of writes (reads are never throttled here) and the token endpoint's login limit.

Rates live in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` and are read at request time, so a
test can lower them with ``override_settings``.

An anonymous client is its peer address (``REMOTE_ADDR``). ``X-Forwarded-For`` is written by the
client, so it counts only through the ``NUM_PROXIES`` trusted proxies in front of the service
(``TRUSTED_PROXY_COUNT``, 0 by default): rotating the header does not buy more attempts.
"""

from __future__ import annotations

from django.core.cache import caches
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def peer_address(request) -> str | None:
    """The peer address, or the address the outermost trusted proxy appended to ``X-Forwarded-For``.

    DRF trusts the whole header when ``NUM_PROXIES`` is unset; here unset means no proxy. Also the
    address the sign-in lockout counts (``accounts.lockout``).
    """
    num_proxies = api_settings.NUM_PROXIES or 0
    remote_addr = request.META.get("REMOTE_ADDR")
    forwarded_for = request.headers.get("x-forwarded-for")
    if num_proxies == 0 or not forwarded_for:
        return remote_addr
    addresses = forwarded_for.split(",")
    return addresses[-min(num_proxies, len(addresses))].strip()


class PeerAddressMixin:
    def get_ident(self, request):
        return peer_address(request)


class WriteRateThrottle(PeerAddressMixin, UserRateThrottle):
    """``writes``: POST, PUT, PATCH and DELETE per user (per address when anonymous)."""

    scope = "writes"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)


class LoginRateThrottle(PeerAddressMixin, AnonRateThrottle):
    """``login``: token requests per client address, against password guessing, counted in the
    ``shared`` cache that every web process uses (Redis in production), not in each process's memory:
    with the counts per process, two workers let 60 tries a minute through where 30 are allowed.

    A fixed window (the rate's duration) counted with ``add`` and ``incr``, which Redis does
    atomically, so concurrent requests cannot lose a count the way a read-modify-write history can.
    """

    scope = "login"
    cache_alias = "shared"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        store = caches[self.cache_alias]
        now = self.timer()
        window = int(now // self.duration)
        key = f"{key}:{window}"
        self.wait_seconds = (window + 1) * self.duration - now
        store.add(key, 0, timeout=self.duration + 1)
        try:
            count = store.incr(key)
        except ValueError:  # expired between add and incr: this request opens the window again
            store.add(key, 1, timeout=self.duration + 1)
            count = 1
        return count <= self.num_requests

    def wait(self):
        return self.wait_seconds
