"""Conditions and constraints that several tables share."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


def between(field: str, low: float, high: float, *, low_open: bool = False) -> Q:
    """``low <= field <= high`` (``low < field`` when ``low_open``)."""
    lower = Q(**{f"{field}__gt": low}) if low_open else Q(**{f"{field}__gte": low})
    return lower & Q(**{f"{field}__lte": high})


def waiting_for_a_decision(prefix: str) -> list[models.BaseConstraint]:
    """The constraints of a row that waits for a second risk officer (an equity change, a policy
    proposal): a known status, and at most one waiting per portfolio."""
    return [
        models.CheckConstraint(
            condition=Q(status__in=["pending_approval", "applied", "rejected", "superseded"]),
            name=f"{prefix}_status_valid",
        ),
        models.UniqueConstraint(
            fields=["portfolio"], condition=Q(status="pending_approval"), name=f"{prefix}_one_pending_per_portfolio"
        ),
    ]
