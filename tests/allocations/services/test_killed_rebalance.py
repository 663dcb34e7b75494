"""A rebalance process killed with SIGKILL at any point leaves the books as they were: no half-written
run, no fund moved, the audit chain verifying, and the next rebalance goes through.

The rebalance runs in a child process on the same PostgreSQL database; the child pauses inside one
of the steps of the use case (the points below), says so, and the test kills it there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from allocations.demo import demo_seed
from allocations.models import AllocationRun, AuditEntry, Fund, Portfolio, TransitionSchedule
from allocations.selectors.audit import audit_verify
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]

# module, function: the child pauses when the rebalance enters it (after everything before it ran)
KILL_POINTS = [
    ("allocations.services.run_inputs", "run_inputs_load"),  # the portfolio is locked
    ("allocations.services.run_records", "_write_lines"),  # the run row is written
    ("allocations.services.run_records", "audit_append"),  # lines written, the run's audit row next
    ("allocations.services.run_records", "schedule_supersede_active"),
    ("allocations.services.schedules", "funds_set_many"),  # the schedule and its steps are written
    ("allocations.services.funds", "audit_append_many"),  # funds updated, their audit rows next
]

CHILD = """
import importlib, os, sys, time
import django
django.setup()
module_name, function_name = sys.argv[1], sys.argv[2]
module = importlib.import_module(module_name)
original = getattr(module, function_name)

def paused(*args, **kwargs):
    print("PAUSED", flush=True)
    time.sleep(120)
    return original(*args, **kwargs)

setattr(module, function_name, paused)
from allocations.models import Portfolio
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
allocation_run_create(portfolio=Portfolio.objects.get(slug="demo"), actor=Actor.system("child"),
                      request=RebalanceRequest(allocation_method="equal_weight", force_rebalance=True))
print("FINISHED", flush=True)
"""


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _books(portfolio) -> tuple:
    return (
        sorted(Fund.objects.filter(strategy__portfolio=portfolio).values_list("strategy_id", "amount")),
        AllocationRun.objects.filter(portfolio=portfolio).count(),
        TransitionSchedule.objects.filter(portfolio=portfolio).count(),
        AuditEntry.objects.filter(portfolio=portfolio).count(),
    )


@pytest.mark.parametrize(("module", "function"), KILL_POINTS, ids=[f for _, f in KILL_POINTS])
def test_a_rebalance_killed_mid_way_leaves_the_books_as_they_were(module, function):
    demo_seed(strategies=40, days=60, seed=12)
    demo = Portfolio.objects.get(slug="demo")
    before = _books(demo)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test", "DATABASE_URL": _database_url()}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, module, function],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "PAUSED" not in line:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        assert "PAUSED" in line, f"the child never reached {module}.{function}: {line!r}"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()

    assert _books(demo) == before
    assert audit_verify(portfolio=demo).ok
    # the lock died with the child: the next rebalance goes through at once
    outcome = allocation_run_create(
        portfolio=demo, actor=Actor.system("test"), request=RebalanceRequest(allocation_method="equal_weight")
    )
    assert outcome.run is not None and audit_verify(portfolio=demo).ok
