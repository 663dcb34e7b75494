"""Secrets the service must read back (webhook signing keys) kept encrypted at rest.

A database dump or a read replica held every webhook secret in plain text, enough to sign orders to
the execution system. ``EncryptedSecretField`` stores ``enc1:<Fernet token>`` through ``encrypt`` and
gives the plain text back on load (``decrypt``); the key is not in the database (``secret_box``). A
value without the prefix (a row from before migration 0019) is read as it is; that migration encrypts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "enc1:"
CONTEXT = b"cae.webhook-secrets.v1"


def fernet_key(material: str) -> bytes:
    """The Fernet key derived from ``material`` (a setting's text): HMAC-SHA256 under a fixed context."""
    return base64.urlsafe_b64encode(hmac.new(material.encode(), CONTEXT, hashlib.sha256).digest())


def secret_box() -> MultiFernet:
    """Encrypts with the current key; decrypts with it or any fallback.

    The key is ``WEBHOOK_SECRET_KEY`` (32+ characters) when set, else the same derivation from
    ``AUDIT_HMAC_KEY`` (a key that never changes and is never stored in the database), so no new
    setting is needed to start: ``urlsafe_b64encode(HMAC-SHA256(key, "cae.webhook-secrets.v1"))``.
    ``WEBHOOK_SECRET_KEY_FALLBACKS``: older keys still read; a row is written under the current key
    whenever it is saved (rotation: docs/runbook.md).
    """
    primary = settings.WEBHOOK_SECRET_KEY or settings.AUDIT_HMAC_KEY
    if not primary:
        raise ImproperlyConfigured("WEBHOOK_SECRET_KEY (or AUDIT_HMAC_KEY) is needed to keep webhook secrets")
    keys = [primary, *settings.WEBHOOK_SECRET_KEY_FALLBACKS]
    return MultiFernet([Fernet(fernet_key(k)) for k in keys])


def encrypt(plain: str) -> str:
    return PREFIX + secret_box().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before encryption (migration 0019 encrypts these)
    try:
        return secret_box().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "a webhook secret cannot be decrypted: WEBHOOK_SECRET_KEY (or its fallbacks) is not the key it was "
            "written with"
        ) from None


def is_encrypted(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(PREFIX)
