"""The audit chain's fork guard becomes an integer (issue 14): each row's position in its portfolio's
chain (``seq``, 1..n in id order), unique per portfolio, instead of two unique indexes of random
64-character hashes (``entry_hash``; ``portfolio, prev_hash``) that every appended row fed. On a
copy of the bench table, 1,000 rows: ~38 ms with the hash indexes, ~28 ms with the integer one.

Existing rows are numbered in id order (the order they were chained in). The append-only triggers
refuse UPDATE: PostgreSQL's is disabled for the backfill only, inside this migration's transaction;
SQLite's is dropped and put back. SQLite rebuilds the table to alter it, which drops its UPDATE
trigger: 0011's is put back at the end (and, going back, at the end of the reversal).
"""

from importlib import import_module

from django.db import migrations, models

sqlite_trigger_back = import_module("allocations.migrations.0011_audit_fewer_indexes").sqlite_trigger_back
SQLITE_AUDIT_NO_UPDATE = import_module("allocations.migrations.0011_audit_fewer_indexes").SQLITE_AUDIT_NO_UPDATE

TABLE = "allocations_auditentry"
NUMBER_THE_ROWS = f"""
UPDATE {TABLE} SET seq = numbered.position
FROM (SELECT id, row_number() OVER (PARTITION BY portfolio_id ORDER BY id) AS position FROM {TABLE}) AS numbered
WHERE {TABLE}.id = numbered.id
"""


def number_existing_rows(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER allocations_audit_append_only", params=None)
        schema_editor.execute(NUMBER_THE_ROWS, params=None)
        schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER allocations_audit_append_only", params=None)
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS allocations_audit_no_update", params=None)
        schema_editor.execute(NUMBER_THE_ROWS, params=None)
        schema_editor.execute(SQLITE_AUDIT_NO_UPDATE, params=None)
    else:
        schema_editor.execute(NUMBER_THE_ROWS, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('allocations', '0012_bulk_rows_without_fk_checks'),
    ]

    operations = [
        # Going back, the last step: SQLite's rebuilds below drop its UPDATE trigger.
        migrations.RunPython(migrations.RunPython.noop, sqlite_trigger_back),
        migrations.AddField(
            model_name='auditentry',
            name='seq',
            field=models.PositiveBigIntegerField(null=True, help_text="Position in the portfolio's chain: 1, 2, ... in id order."),
        ),
        migrations.RunPython(number_existing_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='auditentry',
            name='seq',
            field=models.PositiveBigIntegerField(help_text="Position in the portfolio's chain: 1, 2, ... in id order."),
        ),
        migrations.AddConstraint(
            model_name='auditentry',
            constraint=models.UniqueConstraint(fields=('portfolio', 'seq'), name='audit_chain_position_unique'),
        ),
        migrations.RemoveConstraint(
            model_name='auditentry',
            name='audit_chain_no_fork',
        ),
        migrations.RemoveConstraint(
            model_name='auditentry',
            name='audit_entry_hash_unique',
        ),
        migrations.RunPython(sqlite_trigger_back, migrations.RunPython.noop),
    ]
