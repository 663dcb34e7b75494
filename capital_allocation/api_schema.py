"""drf-spectacular: component names for serializers nested in views.

``StrategyCreateApi.InputSerializer`` becomes the component ``StrategyCreateInput`` instead of
every view's serializer colliding as ``Input``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class ApiAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        parts = [p.removesuffix("Serializer").removesuffix("Api") for p in qualname.split(".")]
        return "".join(parts)
