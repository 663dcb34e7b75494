"""What the bench scripts that drive a server share: the repository root, the environment of the
Django processes they start, the migrated database, a quiet server and waiting for it to answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_env(allow_sqlite: bool, **extra: str) -> dict:
    """The environment of the processes a bench starts (base settings, DEBUG off, ``extra``); stops
    the bench unless DATABASE_URL is PostgreSQL or ``allow_sqlite``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.base", "DEBUG": "false", **extra}
    if not env.get("DATABASE_URL", "").startswith("postgres") and not allow_sqlite:
        sys.exit("set DATABASE_URL to a PostgreSQL database (or pass --allow-sqlite)")
    return env


def database_label(env: dict) -> str:
    return "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"


def migrate(python: str, env: dict) -> None:
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


REBALANCE_TABLES = (
    "allocations_fund", "allocations_auditentry", "allocations_auditchainhead", "allocations_allocationrun",
    "allocations_allocationline", "allocations_transitionschedule", "allocations_transitionstep",
    "allocations_outboxevent", "allocations_portfolio",
)  # fmt: skip


def vacuum(python: str, env: dict, tables=REBALANCE_TABLES) -> None:
    """``VACUUM ANALYZE`` the tables a rebalance writes, as autovacuum keeps them on a production server.

    Runs of a bench leave dead rows behind (every fund row is rewritten by each run); where the server
    runs with autovacuum off (this machine's does) they pile up between runs and the next run's timings
    drift and spread (1,000 strategies: median 107-121 ms, p90 148 ms after 200 runs; 85 and 89 vacuumed).
    """
    if not env.get("DATABASE_URL", "").startswith("postgres"):
        return
    code = (
        "import django; django.setup(); from django.db import connection;"
        f"[connection.cursor().execute('VACUUM ANALYZE ' + t) for t in {tuple(tables)!r}]"
    )
    subprocess.run([python, "-c", code], cwd=ROOT, env=env, check=True)


def quiet_server(command: list[str], env: dict) -> subprocess.Popen:
    """``command`` started from the repository root, its output discarded."""
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(url: str) -> None:
    """Until ``url`` answers 200 (30 s at most, then the bench stops)."""
    for _ in range(150):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"the server did not answer {url}")
