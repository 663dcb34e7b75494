"""A backup restores: deploy/backup.sh then deploy/restore.sh into a fresh database, where the audit trail
verifies and the service, running as its own role, rebalances (PostgreSQL)."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.conf import settings
from django.db import connection

from allocations.demo import demo_seed
from allocations.models import AuditEntry, Portfolio
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create

from .pg import ROOT, database_url, drop_role, libpq_env, manage, run

pytestmark = pytest.mark.postgres

REBALANCE_AS_SERVICE = """
from django.contrib.auth import get_user_model
from allocations.models import Portfolio
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from django.db import connection
portfolio = Portfolio.objects.get(slug="demo")
actor = Actor.of_user(get_user_model().objects.get(username="pm"))
outcome = allocation_run_create(
    portfolio=portfolio, actor=actor, request=RebalanceRequest(allocation_method="equal_weight", force_rebalance=True)
)
with connection.cursor() as cursor:
    cursor.execute("SELECT current_user")
    print("RUN", outcome.run.status, cursor.fetchone()[0])
"""


def test_a_dump_restores_into_a_fresh_database_that_verifies_and_rebalances(transactional_db, tmp_path):
    demo_seed(strategies=10, days=80, seed=11)
    demo = Portfolio.objects.get(slug="demo")
    from django.contrib.auth import get_user_model

    pm = Actor.of_user(get_user_model().objects.get(username="pm"))
    allocation_run_create(portfolio=demo, actor=pm, request=RebalanceRequest(force_rebalance=True))
    audit_rows = AuditEntry.objects.count()
    assert audit_rows > 0

    source = connection.settings_dict["NAME"]
    fresh = f"{source}_restored_{os.getpid()}"
    role = f"cae_app_restore_{os.getpid()}"
    dump = tmp_path / "cae.dump"
    owner_url = database_url(fresh, connection.settings_dict.get("USER") or "postgres")
    key = settings.AUDIT_HMAC_KEY
    env = {
        **libpq_env(),
        "PY": os.environ.get("PY", str(ROOT / ".venv" / "bin" / "python")),
        "AUDIT_HMAC_KEY": key,
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test",
        "LOG_FORMAT": "plain",
    }
    run(str(ROOT / "deploy" / "backup.sh"), database_url(source, env["PGUSER"]), str(dump), env=env)
    run("createdb", fresh, env=libpq_env())
    try:
        restored = run(str(ROOT / "deploy" / "restore.sh"), owner_url, str(dump), role, env=env, timeout=300)
        assert f"audit trail intact: {audit_rows} rows checked" in restored.stdout, restored.stdout

        service_url = database_url(fresh, role)
        verify = manage("verify_audit", database_url=service_url, audit_key=key)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        rows = subprocess.run(
            ["psql", "-Atc", "SELECT count(*) FROM allocations_auditentry"],
            env=libpq_env(fresh),
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(rows.stdout) == audit_rows

        rebalance = manage("shell", "-c", REBALANCE_AS_SERVICE, database_url=service_url, audit_key=key)
        assert rebalance.returncode == 0, rebalance.stdout + rebalance.stderr
        assert f"RUN applied {role}" in rebalance.stdout or f"RUN pending_approval {role}" in rebalance.stdout, (
            rebalance.stdout
        )
        after = manage("verify_audit", database_url=service_url, audit_key=key)
        assert after.returncode == 0, after.stdout + after.stderr

        wrong_key = manage("verify_audit", database_url=service_url, audit_key="another-key-" + "x" * 40)
        assert wrong_key.returncode != 0
    finally:
        subprocess.run(["dropdb", "--force", "--if-exists", fresh], env=libpq_env(), capture_output=True, timeout=60)
        drop_role(role, source)


# --- what a backup holds, and a restore under the wrong key (issue 21, item 15) --------------------------


def _env(key: str) -> dict[str, str]:
    return {
        **libpq_env(),
        "PY": os.environ.get("PY", str(ROOT / ".venv" / "bin" / "python")),
        "AUDIT_HMAC_KEY": key,
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test",
        "LOG_FORMAT": "plain",
    }


def test_a_backup_holds_no_session_no_plain_webhook_secret_and_is_readable_by_its_owner_only(
    transactional_db, tmp_path
):
    from django.contrib.sessions.backends.db import SessionStore

    from allocations.models import WebhookEndpoint

    demo_seed(strategies=4, days=40, seed=5)
    session = SessionStore()
    session["_auth_user_id"] = "1"
    session.create()
    secret = "whsec-" + "k" * 40
    WebhookEndpoint.objects.create(
        portfolio=Portfolio.objects.get(slug="demo"), url="https://hooks.example.com/x", secret=secret
    )
    source = connection.settings_dict["NAME"]
    env = _env(settings.AUDIT_HMAC_KEY)
    dump = tmp_path / "cae.dump"
    dump.write_text("an older file, world-readable")
    dump.chmod(0o644)
    done = run(str(ROOT / "deploy" / "backup.sh"), database_url(source, env["PGUSER"]), str(dump), env=env)
    assert "mode 0600" in done.stdout
    assert dump.stat().st_mode & 0o777 == 0o600
    text = run("pg_restore", "--file=-", str(dump), env=env).stdout
    assert "COPY public.django_session" not in text and session.session_key not in text
    assert "COPY public.allocations_webhookendpoint" in text and "hooks.example.com/x" in text
    assert secret not in text
    assert "COPY public.allocations_auditentry" in text  # the trail is in it
    schema = run("pg_restore", "--schema-only", "--file=-", str(dump), env=env).stdout
    assert "CREATE TABLE public.django_session" in schema  # restored empty: everyone signs in again


def test_a_restore_under_the_wrong_audit_key_stops_before_writing_anything(transactional_db, tmp_path):
    demo_seed(strategies=4, days=40, seed=5)
    source = connection.settings_dict["NAME"]
    fresh = f"{source}_wrongkey_{os.getpid()}"
    role = f"cae_app_wrongkey_{os.getpid()}"
    dump = tmp_path / "cae.dump"
    env = _env(settings.AUDIT_HMAC_KEY)
    run(str(ROOT / "deploy" / "backup.sh"), database_url(source, env["PGUSER"]), str(dump), env=env)
    run("createdb", fresh, env=libpq_env())
    try:
        wrong = _env("another-key-" + "x" * 40)
        owner_url = database_url(fresh, connection.settings_dict.get("USER") or "postgres")
        done = subprocess.run(
            [str(ROOT / "deploy" / "restore.sh"), owner_url, str(dump), role],
            env=wrong,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode != 0
        assert "chain heads are not signed by this AUDIT_HMAC_KEY" in done.stderr and "restore nothing" in done.stderr
        tables = run(
            "psql", "-Atc", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", env=libpq_env(fresh)
        ).stdout
        assert int(tables) == 0  # nothing was written

        checked = manage(
            "verify_audit", "--backup", str(dump), database_url=owner_url, audit_key=settings.AUDIT_HMAC_KEY
        )
        assert checked.returncode == 0 and "chain heads signed by AUDIT_HMAC_KEY" in checked.stdout, checked.stderr
    finally:
        subprocess.run(["dropdb", "--force", "--if-exists", fresh], env=libpq_env(), capture_output=True, timeout=60)
        drop_role(role, source)
