"""Every setting that comes from the environment is read here, and only here.

A bad value stops start-up with ``ImproperlyConfigured`` naming the variable, so an operator
sees ``DATABASE_URL: unsupported scheme 'mysqlx'`` instead of a traceback from deep inside a
driver ten minutes later.
"""

from __future__ import annotations

import ipaddress
import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "postgis"}
_BROKER_SCHEMES = {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "memory", "sqla+sqlite"}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"{name}: this environment variable is required")
        return default
    return value


def env_secret(name: str, default: str | None = None, *, required: bool = False, min_length: int = 1) -> str | None:
    """A key: like ``env_str``, and a value that is set must be at least ``min_length`` characters."""
    value = env_str(name, default, required=required)
    if value is not None and value != default and len(value) < min_length:
        raise ImproperlyConfigured(f"{name}: must be at least {min_length} characters, got {len(value)}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, above: float | None = None) -> float:
    """A finite number; ``above`` is an exclusive lower bound (a bound of 0 would refuse everything)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name}: expected a finite number, got {raw!r}")
    if above is not None and value <= above:
        raise ImproperlyConfigured(f"{name}: must be greater than {above:g}, got {value:g}")
    return value


def env_list(name: str, default: list[str], *, required: bool = False) -> list[str]:
    raw = os.environ.get(name)
    if required and not raw:
        raise ImproperlyConfigured(f"{name}: this environment variable is required")
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items:
        raise ImproperlyConfigured(f"{name}: expected a comma-separated list, got {raw!r}")
    return items


def env_networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of addresses or networks (``10.0.0.5``, ``10.0.0.0/8``, ``::1``)."""
    networks = []
    for entry in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {entry!r} is not an address or network") from None
    return networks


def env_shared_cache(broker_url: str, name: str = "SHARED_CACHE_URL") -> dict:
    """The cache every process counts into (the token endpoint's login limit): ``SHARED_CACHE_URL``
    (``redis://`` or ``rediss://``), else the broker when it is Redis, else files under var/ (shared
    by the processes of one machine only: production runs Redis)."""
    raw = os.environ.get(name) or (broker_url if broker_url.startswith(("redis://", "rediss://")) else "")
    if not raw:
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "shared-cache"),
        }
    scheme = urlsplit(raw).scheme
    if scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"{name}: unsupported scheme {scheme!r} in {raw!r}; use redis://host:6379/1")
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": raw, "KEY_PREFIX": "cae-shared"}


# Django's PostgreSQL backend checking a connection's health at most once a second (its module says why)
POSTGRESQL_ENGINE = "capital_allocation.postgresql"
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


def env_database(name: str = "DATABASE_URL") -> dict:
    """``DATABASE_URL`` as a Django ``DATABASES['default']``; a SQLite file under var/ by default."""
    import dj_database_url

    raw = os.environ.get(name) or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    scheme = urlsplit(raw).scheme
    if scheme not in _DB_SCHEMES:
        raise ImproperlyConfigured(
            f"{name}: unsupported scheme {scheme!r} in {raw!r}; use postgres://... or sqlite:///..."
        )
    try:
        config = dj_database_url.parse(raw, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj_database_url raises several types for a malformed URL
        raise ImproperlyConfigured(f"{name}: cannot parse {raw!r}: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name}: a SQLite URL needs a file path, got {raw!r}")
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["CONN_MAX_AGE"] = 0
        # IMMEDIATE makes every transaction take the write lock at BEGIN, so two writers queue
        # instead of failing half-way with "database is locked"; the audit chain relies on it.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    else:
        config.setdefault("OPTIONS", {})
        config["ENGINE"] = POSTGRESQL_ENGINE
        if env_bool("DATABASE_PREPARED_STATEMENTS", True):
            # psycopg prepares what a cursor asks it to (the backend's prepared_cursor) and, past this
            # many runs, what a server-binding cursor runs: Django's cursors bind on the client and are
            # never prepared, so only the statements asked for are.
            config["OPTIONS"]["prepare_threshold"] = PREPARE_ONLY_WHEN_ASKED
    return config


def broker_folder(database: dict) -> Path:
    """The embedded broker's folder of one database: ``var/broker/<name>-<hash>``.

    Processes on the same database share it and processes on different databases never do, so
    ``make run`` (var/db.sqlite3) and ``make serve`` (var/serve.sqlite3) in one checkout each keep
    their tasks, and a command run from a shell with the same ``DATABASE_URL`` reaches the worker
    of that database.
    """
    import hashlib

    identity = "|".join(str(database.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))
    stem = Path(str(database.get("NAME") or "default")).stem
    readable = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:40] or "default"
    return VAR_DIR / "broker" / f"{readable}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"


def env_broker(name: str = "CELERY_BROKER_URL", *, database: dict | None = None) -> tuple[str, dict]:
    """The Celery broker URL and transport options.

    Without the variable, an embedded file-system broker under var/ needs no server: the web
    process, the worker and beat exchange messages through files, in the folder of their database
    (``broker_folder``).
    """
    raw = os.environ.get(name)
    if not raw:
        folder = broker_folder(database if database is not None else env_database())
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "control_folder": str(folder / "control"),
        }
        return "filesystem://", options
    scheme = urlsplit(raw).scheme
    if scheme not in _BROKER_SCHEMES:
        raise ImproperlyConfigured(f"{name}: unsupported scheme {scheme!r} in {raw!r}; use redis://host:6379/0")
    return raw, {}
