"""Start a process ready to serve: import what the first request would, then freeze those objects
out of the garbage collector's sight.

A process's startup objects (Django, DRF, numpy, the URL conf and every view) never become garbage,
yet each full pass of the cyclic collector walked them, in the middle of a rebalance about every
third run (bench/README.md). ``gc.freeze()`` moves them to a generation the collector skips (the
standard library's advice for servers that fork workers; it also keeps their pages shared).
"""

from __future__ import annotations

import gc


def warm_and_freeze() -> None:
    """Import the URL conf (every view, serializer, service and the engine), then ``gc.freeze()``."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
    gc.collect()  # what startup left as garbage goes now, not frozen with the rest
    gc.freeze()
