"""AUDIT_HMAC_KEY, the audit trail's key (issue 8 item 12): required in production, a development default elsewhere."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from capital_allocation.env import env_secret
from tests.capital_allocation.test_env import _good_secret, _production_check, _setting


def test_env_secret(monkeypatch):
    monkeypatch.delenv("AUDIT_HMAC_KEY", raising=False)
    assert env_secret("AUDIT_HMAC_KEY", "dev") == "dev"
    with pytest.raises(ImproperlyConfigured, match="AUDIT_HMAC_KEY: this environment variable is required"):
        env_secret("AUDIT_HMAC_KEY", required=True, min_length=32)
    monkeypatch.setenv("AUDIT_HMAC_KEY", "short")
    with pytest.raises(ImproperlyConfigured, match="AUDIT_HMAC_KEY: must be at least 32 characters, got 5"):
        env_secret("AUDIT_HMAC_KEY", "dev", min_length=32)
    monkeypatch.setenv("AUDIT_HMAC_KEY", "k" * 32)
    assert env_secret("AUDIT_HMAC_KEY", required=True, min_length=32) == "k" * 32


@pytest.mark.slow
def test_production_without_the_audit_key_stops_naming_it():
    result = _production_check(SECRET_KEY=_good_secret())
    assert result.returncode != 0
    assert "AUDIT_HMAC_KEY: this environment variable is required" in result.stderr


@pytest.mark.slow
def test_production_with_a_short_audit_key_stops_naming_it():
    result = _production_check(SECRET_KEY=_good_secret(), AUDIT_HMAC_KEY="too-short")
    assert result.returncode != 0
    assert "AUDIT_HMAC_KEY: must be at least 32 characters" in result.stderr


@pytest.mark.slow
def test_the_audit_key_comes_from_the_environment():
    key = _good_secret()
    for module in ("capital_allocation.settings.base", "capital_allocation.settings.production"):
        result = _setting(module, "settings.AUDIT_HMAC_KEY", AUDIT_HMAC_KEY=key)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == repr(key)
    development = _setting("capital_allocation.settings.base", "settings.AUDIT_HMAC_KEY")
    assert development.returncode == 0, development.stderr
    assert "insecure-development" in development.stdout
