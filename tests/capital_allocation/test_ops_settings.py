"""The operations settings: bad values name their variable; production serves static files with whitenoise."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured

from capital_allocation import env

from .test_env import _setting


def test_metrics_networks_parse_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8, ::1 ,192.0.2.7")
    networks = env.env_networks("METRICS_ALLOWED_IPS", [])
    assert ipaddress.ip_address("10.20.30.40") in networks[0]
    assert [str(n) for n in networks[1:]] == ["::1/128", "192.0.2.7/32"]
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8,not-an-address")
    with pytest.raises(ImproperlyConfigured, match="^METRICS_ALLOWED_IPS: 'not-an-address'"):
        env.env_networks("METRICS_ALLOWED_IPS", [])


@pytest.mark.slow
def test_a_bad_log_format_or_short_metrics_token_stops_start_up_naming_it():
    bad_format = _setting("capital_allocation.settings.base", "settings.LOG_FORMAT", LOG_FORMAT="xml")
    assert bad_format.returncode != 0 and "LOG_FORMAT: expected json or plain" in bad_format.stderr
    short = _setting("capital_allocation.settings.base", "settings.METRICS_TOKEN", METRICS_TOKEN="short")
    assert short.returncode != 0 and "METRICS_TOKEN: must be at least 32 characters" in short.stderr


@pytest.mark.slow
def test_production_serves_compressed_hashed_static_files_with_whitenoise():
    result = _setting(
        "capital_allocation.settings.production",
        "(settings.STORAGES['staticfiles']['BACKEND'], settings.MIDDLEWARE[:3])",
    )
    assert result.returncode == 0, result.stderr
    storage, first = eval(result.stdout)  # noqa: S307 - our own repr
    assert storage == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert first == [
        "capital_allocation.middleware.RequestContextMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
