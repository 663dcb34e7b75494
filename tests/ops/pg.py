"""PostgreSQL helpers for the operations tests: the documented commands, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ROLE_SQL = ROOT / "deploy" / "service_role.sql"


def libpq_env(database: str | None = None, user: str | None = None) -> dict[str, str]:
    """PG* variables for psql / pg_dump / pg_restore pointing at the test server."""
    s = connection.settings_dict
    env = {**os.environ, "PGHOST": s.get("HOST") or "127.0.0.1", "PGPORT": str(s.get("PORT") or 5432)}
    env["PGUSER"] = user or s.get("USER") or "postgres"
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    env["PGDATABASE"] = database or s["NAME"]
    return env


def run(*command: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def database_url(database: str, user: str) -> str:
    s = connection.settings_dict
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{database}"


def apply_role_sql(*, database: str, role: str) -> None:
    run("psql", "-v", f"app_role={role}", "-f", str(ROLE_SQL), env=libpq_env(database))


def drop_role(role: str, *databases: str) -> None:
    """Drop the role's grants in each database, then the role (roles are cluster-wide)."""
    for database in databases:
        subprocess.run(
            ["psql", "-c", f'DROP OWNED BY "{role}"'], env=libpq_env(database), capture_output=True, timeout=60
        )
    subprocess.run(["psql", "-c", f'DROP ROLE IF EXISTS "{role}"'], env=libpq_env(), capture_output=True, timeout=60)


def manage(*args: str, database_url: str, audit_key: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """``manage.py`` in a fresh process on another database (the test settings, the test's audit key)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUDIT_HMAC_KEY": audit_key,
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test",
        "LOG_FORMAT": "plain",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
