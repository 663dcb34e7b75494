"""The API's JSON renderer: DRF's, encoding with orjson.

A rebalance answers a weight per strategy, and the standard library's encoder spends ten times
orjson's time on them (bench/README.md, *Why these choices*). What orjson would write
differently from DRF's encoder is sent to it (``default``): datetimes (DRF writes ``Z`` and
milliseconds), numpy values, lazy translations, sets. NaN, which DRF's strict encoder refuses,
does not reach here (answers show non-finite weights as null). Anything orjson cannot encode (an
integer past 64 bits) and every indented answer (the browsable API) go through DRF's own path.
"""

from __future__ import annotations

import orjson
from rest_framework.renderers import JSONRenderer

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class FastJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=self.encoder_class().default, option=OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:  # as DRF: JSON that is also JavaScript
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body
