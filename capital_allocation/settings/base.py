"""Settings for running on one machine: SQLite and an embedded broker unless told otherwise; DEBUG off.

Everything that varies between machines comes from ``capital_allocation.env``.
"""

from datetime import timedelta
from importlib.util import find_spec

from capital_allocation.env import (
    BASE_DIR,
    env_bool,
    env_broker,
    env_database,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_shared_cache,
    env_str,
)
from capital_allocation.logs import logging_config

DEBUG = env_bool("DEBUG", False)  # `make run` sets DEBUG=true for local use
SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-do-not-use-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
# The audit trail's HMAC key (allocations.audit_chain): a secret the database does not hold, so a
# row rewritten by the tables' owner cannot get a valid hash. Changing it fails verify_audit.
AUDIT_HMAC_KEY = env_secret("AUDIT_HMAC_KEY", "insecure-development-audit-key-do-not-use-in-production", min_length=32)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    # Swagger UI and ReDoc served from here, not from a CDN
    *(["drf_spectacular_sidecar"] if find_spec("drf_spectacular_sidecar") else []),
    "guardian",
    "axes",  # sign-in lockout (accounts.lockout)
    "django_celery_beat",
    "accounts",
    "allocations",
    "capital_allocation.apps.OpsConfig",  # metrics and log-context hooks
]

MIDDLEWARE = [
    # first: the request id (X-Request-ID) and the request line cover everything after it
    "capital_allocation.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # the Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last: turns a locked-out sign-in into the lockout answer (accounts.lockout)
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp 4): scripts and styles from this origin only, no inline script
# or style, no plugin, no framing. The dashboard's charts draw on canvas and fetch their JSON from
# 'self'; the favicon is a data: URL. Only the API docs (Swagger UI's own inline styles) relax it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "capital_allocation.urls"
WSGI_APPLICATION = "capital_allocation.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env_database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # first: refuses a locked-out username or address before any password is hashed
    "accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous requests see nothing

# Sign-in lockout (django-axes, accounts.lockout): failures counted in the database, so across every
# process, by address and by username separately, on /accounts/login/, /admin/login/ and the token API.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True  # a success clears that username's and address's failures
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
AXES_SENSITIVE_PARAMETERS = ["password"]

LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["capital_allocation.formats"]  # times in the admin with their zone
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",  # knox's, with the prefix Token or Bearer
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "allocations.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    # NaN, Infinity, 1e400 and "\ud800" are 400s naming the field; bodies past DATA_UPLOAD_MAX_MEMORY_SIZE
    # are 413s. Writes take JSON (the returns upload also text/csv): multipart and form bodies are 415.
    "DEFAULT_PARSER_CLASSES": ["allocations.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "capital_allocation.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "allocations.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["capital_allocation.throttles.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "writes": env_str("API_WRITE_RATE", "60/min"),  # per user, unsafe methods only
        "login": env_str("API_LOGIN_RATE", "30/min"),  # token requests per client address
    },
    # Proxies in front of the service whose X-Forwarded-For entry is trusted; with 0 the
    # throttles key anonymous clients on the peer address (the header is the client's to forge).
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0, minimum=0),
}
# "default" as Django's own default (each process's memory: the throttles' counters); "answers" holds
# read answers versioned by the portfolio's audit chain head (allocations.selectors.current), so an
# entry is never stale, only unused: a small bound and a timeout keep the memory in check.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "answers": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "cae-answers",
        "TIMEOUT": 600,
        "OPTIONS": {"MAX_ENTRIES": 2000},
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
# File parts of a multipart body are held to the same limit (Django's applies to form fields only).
FILE_UPLOAD_HANDLERS = [
    "capital_allocation.uploads.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
SPECTACULAR_SETTINGS = {
    "TITLE": "Capital Allocation Engine API",
    "DESCRIPTION": "Allocations, rebalances, transition schedules and the audit trail, per portfolio.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The method choice set appears under several field names; one schema name for all of them
    # keeps `check --deploy` free of drf_spectacular.W001.
    # One schema name per closed set (allocations/api/enums.py), whatever field carries it.
    "ENUM_NAME_OVERRIDES": {
        "MethodEnum": "allocations.api.enums.MethodEnum",
        "CovarianceEstimatorEnum": "allocations.api.enums.CovarianceEstimatorEnum",
        "RunStatusEnum": "allocations.api.enums.RunStatusEnum",
        "RunTriggerEnum": "allocations.api.enums.RunTriggerEnum",
        "StrategyStatusEnum": "allocations.api.enums.StrategyStatusEnum",
        "StrategySettableStatusEnum": "allocations.api.enums.StrategySettableStatusEnum",
        "ScheduleStatusEnum": "allocations.api.enums.ScheduleStatusEnum",
        "StepStatusEnum": "allocations.api.enums.StepStatusEnum",
        "PlanStepStatusEnum": "allocations.api.enums.PlanStepStatusEnum",
        "EquityChangeStatusEnum": "allocations.api.enums.EquityChangeStatusEnum",
        "AuditKindEnum": "allocations.api.enums.AuditKindEnum",
        "SignalActionEnum": "allocations.api.enums.SignalActionEnum",
        "DeliveryStatusEnum": "allocations.api.enums.DeliveryStatusEnum",
        "EventTypeEnum": "allocations.api.enums.EventTypeEnum",
    },
    # Problem details on every operation, the Idempotency-Key parameter, the token scheme's prefix.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "capital_allocation.api_schema.document_problems",
    ],
    **(
        {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
        if find_spec("drf_spectacular_sidecar")
        else {}
    ),
}

CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = env_broker(database=DATABASES["default"])
# What every process counts together (the token endpoint's login limit): Redis in production.
CACHES["shared"] = env_shared_cache(CELERY_BROKER_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")  # workers consume it with -Q
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    # A message sent while the broker is down fails at once (the write stands; beat's sweep catches
    # up) instead of holding the request that sent it; workers reconnect on their own policy.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=1)
# A job execution still running this long after it started lost its worker (its message went back to
# the queue after the visibility timeout): beat's sweep marks it lost (allocations.services.job_liveness).
JOB_LOST_AFTER_SECONDS = env_int("JOB_LOST_AFTER_SECONDS", CELERY_VISIBILITY_TIMEOUT, minimum=1)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message taken by a worker that died (acks_late) is handed out again after the visibility
    # timeout: Redis's default is an hour, ours minutes. Every task runs far shorter than it, and
    # is safe to run twice; the unacked messages are looked for every 10 s.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3

# The outbox to order execution (allocations.services.webhook_delivery): tries per delivery before the dead
# letter, the exponential backoff between them, and how long a receiver may take to answer.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10, minimum=1)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=1)
WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 3600, minimum=1)
# One deadline for a whole exchange (connect, send, status line, headers, body), not per read.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_MAX_RESPONSE_BYTES = env_int("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024, minimum=1024)
# Endpoints sent to at the same time by one sweep: a slow receiver holds only its own lane.
WEBHOOK_SENDERS = env_int("WEBHOOK_SENDERS", 8, minimum=1)
# Hosts a webhook may reach over http and at a private or loopback address (local use only);
# every other target is https to public addresses (allocations.services.webhook_targets).
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
# Webhook secrets are encrypted at rest under a key derived from this (else from AUDIT_HMAC_KEY).
WEBHOOK_SECRET_KEY = env_secret("WEBHOOK_SECRET_KEY", None, min_length=32)
WEBHOOK_SECRET_KEY_FALLBACKS = env_list("WEBHOOK_SECRET_KEY_FALLBACKS", [])
# /health/ calls beat late when no periodic task was sent for this long, and the daily rebalance
# late when its sweep (every 5 minutes) has not finished for this long.
HEALTH_BEAT_LATE_SECONDS = env_int("HEALTH_BEAT_LATE_SECONDS", 600, minimum=1)
HEALTH_REBALANCE_LATE_SECONDS = env_int("HEALTH_REBALANCE_LATE_SECONDS", 1800, minimum=1)
# Each worker records a heartbeat this often; /health/ names ``worker`` in ``down`` after this long without one.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 15, minimum=1)
HEALTH_WORKER_DOWN_SECONDS = env_int("HEALTH_WORKER_DOWN_SECONDS", 60, minimum=1)
# For this long after a web process started, a late or missing beat, rebalance or worker says ``starting``.
HEALTH_STARTING_SECONDS = env_int("HEALTH_STARTING_SECONDS", 300, minimum=0)
# One probe of the database and the broker answers every /health/ call of a process for this long.
HEALTH_CACHE_SECONDS = env_float("HEALTH_CACHE_SECONDS", 5.0, above=0)

DEMO_PASSWORD = env_str("DEMO_PASSWORD", "demo")
HEALTH_BROKER_TIMEOUT = env_float("HEALTH_BROKER_TIMEOUT", 0.5, above=0)  # seconds of one connection attempt
# How long a change waits for another change of the same portfolio to commit (PostgreSQL
# lock_timeout) before answering 409 "busy, retry", instead of queueing forever behind it.
PORTFOLIO_LOCK_TIMEOUT_MS = env_int("PORTFOLIO_LOCK_TIMEOUT_MS", 15_000, minimum=1)
# A daily return past this size (0.5 is +-50 %) is refused as a likely typo (1.5 for 1.5 %) unless
# the upload says it means it (allow_outliers, audited); allocations.services.ingestion.
MAX_ABS_DAILY_RETURN = env_float("MAX_ABS_DAILY_RETURN", 0.5, above=0)

# JSON lines on stderr with the request's or task's context (capital_allocation.logs); LOG_FORMAT=plain for text.
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "plain"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT: expected json or plain, got {LOG_FORMAT!r}")
LOGGING = logging_config(level=env_str("LOG_LEVEL", "INFO"), json=LOG_FORMAT == "json")
# Celery keeps the handlers above instead of installing its own on the root logger.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# /metrics (capital_allocation.metrics): peers in METRICS_ALLOWED_IPS, or Authorization: Bearer METRICS_TOKEN.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = env_secret("METRICS_TOKEN", None, min_length=32)
