"""The service's database role (deploy/service_role.sql) works rows but cannot truncate or unhook the audit trail."""

from __future__ import annotations

import os

import psycopg
import pytest
from django.db import connection

from .pg import apply_role_sql, drop_role

pytestmark = pytest.mark.postgres

AUDIT = "allocations_auditentry"
HEADS = "allocations_auditchainhead"


@pytest.fixture
def app_role(transactional_db):
    role = f"cae_app_test_{os.getpid()}"
    database = connection.settings_dict["NAME"]
    apply_role_sql(database=database, role=role)
    apply_role_sql(database=database, role=role)  # safe to repeat
    yield role
    drop_role(role, database)


def as_role(role: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432, dbname=s["NAME"], user=role, autocommit=True
    )


def refused(conn: psycopg.Connection, sql: str) -> str:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql)
    return str(caught.value)


@pytest.mark.parametrize(
    "sql",
    [
        f"TRUNCATE {AUDIT}",
        f"TRUNCATE {AUDIT}, {HEADS} CASCADE",
        f"TRUNCATE {HEADS}",
        f"ALTER TABLE {AUDIT} DISABLE TRIGGER ALL",
        f"ALTER TABLE {AUDIT} DISABLE TRIGGER allocations_audit_append_only",
        f"DROP TRIGGER allocations_audit_append_only ON {AUDIT}",
        "DROP FUNCTION allocations_audit_refuse_change() CASCADE",
        f"CREATE OR REPLACE TRIGGER allocations_audit_append_only BEFORE INSERT ON {AUDIT} "
        "FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
        f"UPDATE {AUDIT} SET reason = 'rewritten'",
        f"DELETE FROM {AUDIT}",
        f"DELETE FROM {HEADS}",
        f"DROP TABLE {AUDIT}",
        "SET session_replication_role = replica",
        "CREATE TABLE cae_app_scratch (id int)",
    ],
)
def test_the_service_role_is_refused(app_role, sql):
    with as_role(app_role) as conn:
        message = refused(conn, sql)
    assert "permission denied" in message or "must be owner" in message, message


def test_the_service_role_reads_and_writes_rows_and_appends_audit(app_role):
    with as_role(app_role) as conn:
        for table, privileges in {
            "allocations_fund": ("SELECT", "INSERT", "UPDATE", "DELETE"),
            "allocations_allocationrun": ("SELECT", "INSERT", "UPDATE"),
            AUDIT: ("SELECT", "INSERT"),
            HEADS: ("SELECT", "INSERT", "UPDATE"),
        }.items():
            for privilege in privileges:
                row = conn.execute("SELECT has_table_privilege(current_user, %s, %s)", (table, privilege)).fetchone()
                assert row[0], (table, privilege)
        owners = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
        ).fetchone()
        assert owners[0] == 0
