"""Filters shared by the list endpoints."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.core.exceptions import ValidationError


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time, compared in UTC.

    PostgreSQL accepts offsets up to ±15:59 only and Python's datetime ends in year 9999, so
    the value is converted here, and one that cannot be is a 400 naming the parameter.
    """

    def filter(self, qs, value):
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise ValidationError({self.field_name: ["date and time out of range"]}) from None
        return super().filter(qs, value)
