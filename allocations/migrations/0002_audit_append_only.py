"""The database itself refuses to change or remove audit rows.

PostgreSQL: a trigger raises on UPDATE and DELETE (SQLSTATE 23001, restrict_violation, which
Django reports as IntegrityError). SQLite: a trigger refuses UPDATE; DELETE is left to the
model's guards there, because the test runner empties SQLite tables with DELETE.
"""
from django.db import migrations

TABLE = "allocations_auditentry"

PG_FORWARD = f"""
CREATE OR REPLACE FUNCTION allocations_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER allocations_audit_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION allocations_audit_refuse_change();
"""
PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS allocations_audit_append_only ON {TABLE};
DROP FUNCTION IF EXISTS allocations_audit_refuse_change();
"""
SQLITE_FORWARD = f"""
CREATE TRIGGER allocations_audit_no_update BEFORE UPDATE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS allocations_audit_no_update;"


def forward(apps, schema_editor):
    sql = {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    sql = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("allocations", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
