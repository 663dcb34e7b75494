"""Request parsers that refuse what the domain cannot hold, before a view sees it.

Python's ``json`` accepts ``NaN``, ``Infinity`` and turns ``1e400`` into ``inf``; none of them is
a number any field of this API can take, so the JSON parser answers 400 naming the field
instead. Every parser reads at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes and answers 413 past it
(DRF streams the body to the parser, so Django's own check does not apply).
"""

from __future__ import annotations

import json
import math

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import BaseParser, JSONParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def read_bounded(stream) -> bytes:
    """The whole body, or ``PayloadTooLarge`` when it exceeds ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    return body


class _NonFinite:
    """Stands in for a non-finite number while the document is parsed, so its path can be named."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _parse_float(text: str):
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _non_finite_paths(value, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _NonFinite):
            found.append((where or "non_field_errors", item.text))
        elif isinstance(item, dict):
            stack.extend((f"{where}.{key}" if where else str(key), child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return sorted(found)


def loads_finite(raw: bytes | str):
    """``json.loads`` raising ``ValidationError`` {field: [...]} for NaN, ±Infinity, overflowing numbers."""
    try:
        data = json.loads(raw, parse_constant=_NonFinite, parse_float=_parse_float)
    except RecursionError:
        raise ParseError("JSON parse error - the document is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long to convert
        raise ParseError(f"JSON parse error - {exc}") from None
    bad = _non_finite_paths(data)
    if bad:
        raise ValidationError({where: [f"{text} is not a finite number"] for where, text in bad})
    return data


class StrictJSONParser(JSONParser):
    """JSON with finite numbers only; bounded in size."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded(stream)
        if not body.strip():
            return {}
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"JSON parse error - the body is not {encoding} text") from None
        return loads_finite(text)


class CSVTextParser(BaseParser):
    """A ``text/csv`` body, handed to the view as text (the services parse the rows)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded(stream)
        try:
            return body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParseError("the CSV body is not UTF-8 text") from None
