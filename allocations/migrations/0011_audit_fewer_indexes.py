"""Two indexes fewer on the audit table, which every audited write feeds one row per strategy moved.

- no index of ``portfolio_id`` alone: ``audit_portfolio_time_idx`` (portfolio, created_at) leads with it;
- ``entry_hash`` unique by a constraint instead of ``unique=True``, which on PostgreSQL also made a
  ``varchar_pattern_ops`` (LIKE) index that nothing reads.

SQLite rebuilds a table to alter it, which drops its triggers: 0002's UPDATE trigger is put back.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SQLITE_AUDIT_NO_UPDATE = """
CREATE TRIGGER IF NOT EXISTS allocations_audit_no_update BEFORE UPDATE ON allocations_auditentry
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;
"""


def sqlite_trigger_back(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_AUDIT_NO_UPDATE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('allocations', '0010_explanation_stored_compact'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='entry_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='portfolio',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='audit_entries', to='allocations.portfolio'),
        ),
        migrations.AddConstraint(
            model_name='auditentry',
            constraint=models.UniqueConstraint(fields=('entry_hash',), name='audit_entry_hash_unique'),
        ),
        migrations.RunPython(sqlite_trigger_back, migrations.RunPython.noop),
    ]
