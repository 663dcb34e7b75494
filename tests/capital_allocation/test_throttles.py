"""Throttles key anonymous clients on the peer address; X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import pytest
from rest_framework.test import APIRequestFactory

from capital_allocation.throttles import LoginRateThrottle, WriteRateThrottle


def _request(forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": "203.0.113.7"}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return APIRequestFactory().post("/api/v1/auth/token/", **extra)


@pytest.mark.parametrize("throttle_class", [LoginRateThrottle, WriteRateThrottle])
@pytest.mark.parametrize("forwarded_for", [None, "198.51.100.1", "198.51.100.1, 10.0.0.2"])
def test_without_trusted_proxies_the_peer_address_is_the_client(throttle_class, forwarded_for):
    assert throttle_class().get_ident(_request(forwarded_for)) == "203.0.113.7"


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "ident"),
    [
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "10.9.9.9, 198.51.100.1", "198.51.100.1"),  # the client's own entry is not trusted
        (2, "10.9.9.9, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (1, None, "203.0.113.7"),
    ],
)
def test_a_trusted_proxy_count_reads_the_address_that_proxy_appended(settings, num_proxies, forwarded_for, ident):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    assert LoginRateThrottle().get_ident(_request(forwarded_for)) == ident


def test_a_settings_module_without_num_proxies_still_keys_on_the_peer(settings):
    rest = {k: v for k, v in settings.REST_FRAMEWORK.items() if k != "NUM_PROXIES"}
    settings.REST_FRAMEWORK = rest
    assert LoginRateThrottle().get_ident(_request("198.51.100.1")) == "203.0.113.7"
