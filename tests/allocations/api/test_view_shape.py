"""One shape for every API view that writes (issue 22, item 3): ``post``/``put``/``patch`` written in
the view's own class (serializer -> one service -> output serializer), none generated, the
Idempotency-Key passed to it as an argument."""

from __future__ import annotations

import inspect
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

VIEWS = Path(__file__).resolve().parents[3] / "allocations" / "api" / "views"


def _view_classes(patterns=None):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "view_class"):
            yield pattern.callback.view_class


def test_every_writing_method_is_written_in_a_view_module_under_its_own_name():
    writers = []
    for view in set(_view_classes()):
        if not view.__module__.startswith("allocations.api.views"):
            continue
        for name in ("post", "put", "patch"):
            method = getattr(view, name, None)
            if method is None:
                continue
            written = inspect.unwrap(method)
            assert written.__name__ == name, f"{view.__name__}.{name} is {written.__qualname__}"
            assert written.__module__.startswith("allocations.api.views"), f"{view.__name__}.{name}"
            writers.append(f"{view.__name__}.{name}")
    assert len(writers) >= 20


def test_no_view_generates_its_methods_and_none_reads_the_key_from_an_attribute():
    for path in VIEWS.glob("*.py"):
        text = path.read_text()
        assert "__init_subclass__" not in text, path.name
        assert 'getattr(self, "idempotency_key"' not in text, path.name
