"""Conditions of the check constraints that several tables share."""

from __future__ import annotations

from django.db.models import Q


def between(field: str, low: float, high: float, *, low_open: bool = False) -> Q:
    """``low <= field <= high`` (``low < field`` when ``low_open``)."""
    lower = Q(**{f"{field}__gt": low}) if low_open else Q(**{f"{field}__gte": low})
    return lower & Q(**{f"{field}__lte": high})
