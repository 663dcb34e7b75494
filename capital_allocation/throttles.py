"""Per-user throttling of writes; reads are never throttled here.

Rates live in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` and are read at request time, so a
test can lower them with ``override_settings``.

An anonymous client is its peer address (``REMOTE_ADDR``). ``X-Forwarded-For`` is written by the
client, so it counts only through the ``NUM_PROXIES`` trusted proxies in front of the service
(``TRUSTED_PROXY_COUNT``, 0 by default): rotating the header does not buy more attempts.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class PeerAddressMixin:
    def get_ident(self, request):
        """The peer address, or the address the outermost trusted proxy appended to ``X-Forwarded-For``.

        DRF trusts the whole header when ``NUM_PROXIES`` is unset; here unset means no proxy.
        """
        num_proxies = api_settings.NUM_PROXIES or 0
        remote_addr = request.META.get("REMOTE_ADDR")
        forwarded_for = request.headers.get("x-forwarded-for")
        if num_proxies == 0 or not forwarded_for:
            return remote_addr
        addresses = forwarded_for.split(",")
        return addresses[-min(num_proxies, len(addresses))].strip()


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
    """``login``: token requests per client address, against password guessing."""

    scope = "login"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
