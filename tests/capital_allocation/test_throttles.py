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


# --- the login limit counted in one store for every process (issue 21, item 8) ---------------------

COUNTER = r"""
import json, sys
import capital_allocation.settings.test as test_settings

# this process's own memory stays the default cache, as on a real web worker; the shared store is the one given
test_settings.CACHES["shared"] = json.loads(sys.argv[1])
import django

django.setup()
from rest_framework.test import APIRequestFactory
from capital_allocation.throttles import LoginRateThrottle

request = APIRequestFactory().post("/api/v1/auth/token/", REMOTE_ADDR="203.0.113.9")
throttle = LoginRateThrottle()
throttle.timer = lambda: float(sys.argv[3])  # every process in the middle of one minute, whatever the hour
print(sum(throttle.allow_request(request, None) for _ in range(int(sys.argv[2]))))
"""


def _tries_let_through(store: dict, tries: int, processes: int) -> list[int]:
    import json
    import subprocess
    import sys

    from tests.allocations.jobs_support import ROOT

    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test"}
    import time

    middle_of_a_minute = (time.time() // 60) * 60 + 30
    args = [sys.executable, "-c", COUNTER, json.dumps(store), str(tries), str(middle_of_a_minute)]
    running = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return [int(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in running]


@pytest.mark.slow
def test_two_processes_share_one_login_count(tmp_path):
    """30 a minute documented, 60 let through on two workers when each counted in its own memory."""
    store = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    first = _tries_let_through(store, 20, 1)
    second = _tries_let_through(store, 20, 1)  # another process, the same address, the same minute
    assert first + second == [20, 10]


@pytest.mark.slow
@pytest.mark.redis
def test_two_processes_racing_on_redis_let_the_documented_number_through(settings):
    import uuid

    from django.conf import settings as live

    prefix = f"test-login-{uuid.uuid4().hex}"  # counts of their own; they expire after the minute
    store = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": live.CELERY_BROKER_URL}
    assert sum(_tries_let_through({**store, "KEY_PREFIX": prefix}, 25, 2)) == 30


def test_the_shared_cache_is_redis_when_the_broker_is(monkeypatch):
    from capital_allocation.env import env_shared_cache

    monkeypatch.delenv("SHARED_CACHE_URL", raising=False)
    assert env_shared_cache("redis://cache:6379/0")["BACKEND"].endswith("RedisCache")
    assert env_shared_cache("filesystem://")["BACKEND"].endswith("FileBasedCache")
    monkeypatch.setenv("SHARED_CACHE_URL", "rediss://other:6380/2")
    assert env_shared_cache("filesystem://")["LOCATION"] == "rediss://other:6380/2"
    monkeypatch.setenv("SHARED_CACHE_URL", "memcached://x")
    with pytest.raises(Exception, match="SHARED_CACHE_URL"):
        env_shared_cache("filesystem://")
