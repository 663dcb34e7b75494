"""Production settings: no insecure defaults, HTTPS only.

``SECRET_KEY``, ``AUDIT_HMAC_KEY`` and ``ALLOWED_HOSTS`` must be set.
"""

from capital_allocation.env import env_bool, env_int, env_list, env_secret, env_str

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", required=True)
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY: must be at least 50 characters with 5 or more distinct ones")
# Old keys still accepted for sessions and signed values while they age out (rotation: docs/runbook.md).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [], required=True)  # empty would refuse every request
AUDIT_HMAC_KEY = env_secret("AUDIT_HMAC_KEY", required=True, min_length=32)  # the audit trail's key, not in the DB

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Static files served by the web processes themselves (whitenoise): compressed, with hashed names
# cached for a year; `manage.py collectstatic` (run by `make serve` and the image build) writes them.
MIDDLEWARE = [*MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware"
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
