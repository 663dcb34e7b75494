"""Bodies a view cannot read are refused before anything reads them (415), naming what it takes.

DRF reads a body of a type it has no parser for, or a body with no ``Content-Type``, as an empty
one, so ``requests.post(url, data=json.dumps(...))`` (no Content-Type) would run a rebalance with
no fields. Worse, a browser session's CSRF check reads ``request.POST`` (so Django parses a
multipart body, a broken one as empty) and DRF then hands the view that parse whatever its own
parsers are. ``ReadsOnlyItsMediaTypes`` checks first, before authentication.
"""

from __future__ import annotations

from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import SAFE_METHODS


def _has_body(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False


def refuse_unread_body(request) -> None:
    """415 for a body of a type the view has no parser for, or with no ``Content-Type`` at all."""
    if request.method in SAFE_METHODS or not _has_body(request):
        return
    accepted = ", ".join(parser.media_type for parser in request.parsers)
    if not (request.content_type or "").strip():
        raise UnsupportedMediaType("", detail=f"The request has a body but no Content-Type; send one of: {accepted}.")
    if request.negotiator.select_parser(request, request.parsers) is None:
        raise UnsupportedMediaType(
            request.content_type,
            detail=f'Unsupported media type "{request.content_type}" in request; send one of: {accepted}.',
        )


class ReadsOnlyItsMediaTypes:
    """A body this view cannot parse is refused (415) before anything reads it."""

    def initial(self, request, *args, **kwargs):
        refuse_unread_body(request)
        super().initial(request, *args, **kwargs)
