"""Template filters of ``allocations.display``: ``{% load display %}`` then ``{{ w|percent }}``,
``{{ amount|money:portfolio.base_currency }}``, ``{{ run.created_at|when:portfolio.timezone }}``,
``{{ run.status|status_words }}``."""

from __future__ import annotations

from django import template

from allocations import display

register = template.Library()


@register.filter
def percent(value, digits=2):
    return display.percent(value, int(digits))


@register.filter
def signed_percent(value, digits=2):
    return display.percent(value, int(digits), signed=True)


@register.filter
def money(value, currency=""):
    return display.money(value, currency)


@register.filter
def when(value, zone=None):
    return display.when(value, zone or None)


@register.filter
def status_words(value):
    return display.status_words(value)
