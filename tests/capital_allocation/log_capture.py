"""Capture what the configured console handler would write (its formatter and filters), as parsed JSON lines."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager


def _console_handler() -> logging.Handler:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "console":
            return handler
    raise AssertionError("the LOGGING config has no root handler named 'console'")


@contextmanager
def json_log_lines(level: int = logging.DEBUG):
    """Yields ``(lines, text)``: the parsed lines and the raw text, filled as the block runs."""
    console = _console_handler()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(console.formatter)
    for log_filter in console.filters:
        handler.addFilter(log_filter)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    captured = Captured(buffer)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class Captured:
    def __init__(self, buffer: io.StringIO):
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]
