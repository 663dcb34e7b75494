"""`manage.py catch_up`: the README's catch-up of a missed day, as an operator runs it from a shell."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from allocations.models import AllocationRun
from capital_allocation.env import BASE_DIR, broker_folder
from tests.allocations.jobs_support import book
from tests.allocations.test_tasks import eager  # noqa: F401  (the fixture)


def test_catch_up_runs_what_was_due_at_that_moment_for_that_date(db, eager):  # noqa: F811
    portfolio = book("missed")
    out = StringIO()
    call_command("catch_up", "--as-of", "2026-11-27T17:00:00+00:00", stdout=out)
    assert "allocations.rebalance_all_portfolios as of 2026-11-27T17:00:00+00:00" in out.getvalue()
    runs = AllocationRun.objects.filter(portfolio=portfolio, trigger=AllocationRun.Trigger.SCHEDULE)
    assert list(runs.values_list("run_date", flat=True)) == [dt.date(2026, 11, 27)]


@pytest.mark.parametrize(
    ("value", "message"),
    [("yesterday", "--as-of: as_of must be an ISO timestamp"), ("2999-01-01T00:00:00Z", "is in the future")],
)
def test_catch_up_refuses_a_bad_moment_naming_the_option(db, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("catch_up", "--as-of", value)


@pytest.mark.slow
def test_the_readme_command_works_from_a_plain_shell_and_reaches_the_worker_of_its_database(tmp_path):
    """No DJANGO_SETTINGS_MODULE, no broker URL: what a shell beside `make run` has. The message lands in
    the embedded broker folder of that database, where that database's worker reads."""
    database = tmp_path / "run.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "CELERY_", "DATABASE_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    folder = broker_folder({"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)})
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "catch_up", "--as-of", "2026-11-27T17:00:00+00:00"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "sent allocations.rebalance_all_portfolios" in done.stdout
        assert len(list((folder / "queue").iterdir())) == 2  # the two sweeps, waiting for this database's worker
    finally:
        shutil.rmtree(folder, ignore_errors=True)
