"""Request parsers that refuse what the domain cannot hold, before a view sees it.

The API reads JSON bodies only (the returns upload also ``text/csv``); every parser reads at most
``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes and answers 413 past it (DRF streams the body to the parser, so
Django's own check does not apply). A body with no parser or no ``Content-Type`` is 415
(``capital_allocation.request_bodies``, before anything reads it); one its parser cannot read, 400.
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


# Past this many digits an integer may not fit a float (1.8e308); below it every integer does.
_FLOAT_SAFE_DIGITS = 308


def _parse_int(text: str):
    value = int(text)
    if len(text) > _FLOAT_SAFE_DIGITS and not math.isfinite(_float_or_inf(value)):
        return _NonFinite(f"{text[:12]}... ({len(text.lstrip('-'))} digits)")
    return value


def _float_or_inf(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _is_text(value: str) -> bool:
    """False for a string holding a lone surrogate (valid JSON, not Unicode text)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(key) -> str:
    """A key as it can be named in an error: a lone surrogate is shown as its escape."""
    key = str(key)
    return key if _is_text(key) else key.encode("utf-8", "backslashreplace").decode("ascii")


def _unacceptable_paths(value) -> dict[str, str]:
    """``{path: reason}`` for every non-finite number and every string (or key) that is not text."""
    found: dict[str, str] = {}
    stack = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _NonFinite):
            found[where or "non_field_errors"] = f"{item.text} is not a finite number"
        elif isinstance(item, str):
            if not _is_text(item):
                found[where or "non_field_errors"] = NOT_TEXT
        elif isinstance(item, dict):
            for key, child in item.items():
                path = f"{where}.{_shown(key)}" if where else _shown(key)
                if not _is_text(key):
                    found[path] = NOT_TEXT
                stack.append((path, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return dict(sorted(found.items()))


NOT_TEXT = "holds a lone surrogate (an escape such as \\ud800): not valid Unicode text"


def loads_finite(raw: bytes | str):
    """``json.loads`` raising ``ValidationError`` {field: [...]} for NaN, ±Infinity, numbers past a
    float's range, and strings or keys that are not Unicode text."""
    try:
        data = json.loads(raw, parse_constant=_NonFinite, parse_float=_parse_float, parse_int=_parse_int)
    except RecursionError:
        raise ParseError("JSON parse error - the document is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long to convert
        raise ParseError(f"JSON parse error - {exc}") from None
    bad = _unacceptable_paths(data)
    if bad:
        raise ValidationError({where: [reason] for where, reason in bad.items()})
    return data


class StrictJSONParser(JSONParser):
    """JSON with finite numbers only; bounded in size.

    Python's ``json`` accepts ``NaN``, ``Infinity``, turns ``1e400`` into ``inf`` and keeps a 400-digit
    integer no float holds; none is a number any field of this API takes. It also decodes ``"\\ud800"``
    (a lone UTF-16 surrogate) to a string that is not Unicode text and cannot be stored, logged or
    echoed in an error. All of them answer 400 naming the field, so no view or service sees them.
    """

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
