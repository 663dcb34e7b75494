"""capital_allocation/warmup.py: a process starts with its views imported and its startup objects frozen."""

from __future__ import annotations

import gc
import subprocess
import sys

from django.conf import settings


def test_the_web_entry_point_imports_the_views_and_freezes_what_startup_made():
    code = (
        "import gc, sys; import capital_allocation.wsgi;"
        "print(gc.get_freeze_count(), 'allocations.api.views.allocation' in sys.modules)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "capital_allocation.settings.base", "DEBUG": "false", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) > 10_000 and out[1] == "True"


def test_warm_and_freeze_leaves_nothing_for_a_full_pass_to_walk_of_startup():
    from capital_allocation.warmup import warm_and_freeze

    try:
        warm_and_freeze()
        assert gc.get_freeze_count() > 10_000
        assert len(gc.get_objects(generation=2)) < gc.get_freeze_count() / 10
    finally:
        gc.unfreeze()
