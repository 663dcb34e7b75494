"""capital_allocation/renderers.py: orjson's speed, DRF's answers."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import numpy as np
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from capital_allocation.renderers import FastJSONRenderer


def _both(data, media_type="application/json"):
    return FastJSONRenderer().render(data, media_type, {}), JSONRenderer().render(data, media_type, {})


def test_the_same_values_as_drfs_renderer():
    data = {
        "at": dt.datetime(2026, 11, 28, 14, 1, 2, 345678, tzinfo=dt.UTC),
        "day": dt.date(2026, 11, 28),
        "amount": Decimal("1234.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "weights": {"a": 0.1, "b": 1 / 3, "c": 1e-05, "d": 1e16, "e": -0.0},
        "numpy": np.float64(0.25),
        "array": np.array([1.5, 2.5]),
        "label": gettext_lazy("Run created"),
        "keys": {1: "one", 2: "two"},
        "big": 2**70,
        "text": "line\u2028separator é",
        "nothing": None,
        "flags": [True, False],
    }
    fast, drf = _both(data)
    assert json.loads(fast) == json.loads(drf)
    assert b"\\u2028" in fast and "\u2028".encode() not in fast
    assert json.loads(fast)["at"] == json.loads(drf)["at"] == "2026-11-28T14:01:02.345678Z"


def test_an_indented_answer_is_drfs_own():
    fast, drf = _both({"a": [1, 2]}, "application/json; indent=4")
    assert fast == drf and b"\n    " in fast


def test_nothing_renders_as_an_empty_body():
    assert FastJSONRenderer().render(None) == b""


def test_the_api_answers_through_it(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    answer = client.get("/api/v1/portfolios/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert answer.accepted_renderer.__class__ is FastJSONRenderer
