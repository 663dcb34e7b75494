"""Structured logs: one JSON object per line, with the context of the request or task that wrote it.

The context (``request_id``, ``user``, ``portfolio``, ``run_id``, ``task_id``, ``task``) lives in a
context variable bound by ``middleware`` for a request and ``observability`` for a task, so every line
carries it, whichever logger wrote it. Secrets stay out: no query string, header or body is logged,
and ``RedactSecretsFilter`` masks what looks like a credential in any message.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("cae_log_context", default={})  # noqa: B039 - never mutated

# What a client may send as X-Request-ID: short, and nothing that could forge a log line.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a plain token, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def bind(**fields) -> None:
    """Add fields to the current context (``None`` values are left out)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None and v != ""}})


@contextmanager
def bound(**fields):
    """``fields`` in the context inside the block only."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None and v != ""}})
    try:
        yield
    finally:
        _context.reset(token)


def new_context(**fields) -> contextvars.Token:
    """Start a fresh context (a request or a task); ``reset_context(token)`` ends it."""
    return _context.set({k: v for k, v in fields.items() if v is not None and v != ""})


def reset_context(token: contextvars.Token) -> None:
    _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound context onto every record (a field the call gave in ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_SECRET_PATTERNS = [
    # Authorization values: "Token abc...", "Bearer abc..."
    (re.compile(r"(?i)\b(token|bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    # key=value and "key": "value" pairs whose key names a secret
    (
        re.compile(
            r"""(?ix)(["']?\b(?:password|passwd|secret|token|api[_-]?key|authorization|csrfmiddlewaretoken|sessionid)
            \w*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)"""
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Masks credentials in the message, whoever logged it (an exception text can quote a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonLineFormatter(JsonFormatter):
    """``{"time", "level", "logger", "message", ...context, ...extra}``; tracebacks are redacted too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))

    def formatTime(self, record, datefmt=None) -> str:  # noqa: N802 - logging's name
        from datetime import UTC, datetime

        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def logging_config(*, level: str = "INFO", json: bool = True) -> dict:
    """The ``LOGGING`` dict: every logger's lines to stderr as JSON (or plain text when ``json`` is off)."""
    formatter = (
        {"()": "capital_allocation.logs.JsonLineFormatter"}
        if json
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "capital_allocation.logs.ContextFilter"},
            "redact": {"()": "capital_allocation.logs.RedactSecretsFilter"},
        },
        "formatters": {"line": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["context", "redact"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own request logger repeats the request line at WARNING for every 4xx; ours has it once.
            "django.server": {"level": "WARNING"},
        },
    }
