"""Issue 21, part A: the audit trail's time is the database's (``recorded_at``), and a change that takes
effect at another time says so (``effective_at``); the trail is ordered by its chain position.

``recorded_at`` is added empty and gets its database default afterwards, so rows written before this
migration stay NULL ("recorded before 0017") instead of all claiming the migration's own time. SQLite
rebuilds the audit table to give the column its default, which drops its UPDATE trigger: 0011's is put
back at the end (and, going back, at the end of the reversal). The rows' creation times of runs,
policies, schedules, signals and equity changes come from ``allocations.clock`` (state only).
"""

from importlib import import_module

import django.db.models.functions.datetime
from django.db import migrations, models

import allocations.clock

sqlite_trigger_back = import_module("allocations.migrations.0011_audit_fewer_indexes").sqlite_trigger_back


def _clock_default() -> models.DateTimeField:
    return models.DateTimeField(default=allocations.clock.now, editable=False)


class Migration(migrations.Migration):
    dependencies = [("allocations", "0016_fund_fillfactor")]

    operations = [
        # Going back, the last step: SQLite's rebuild below drops its UPDATE trigger.
        migrations.RunPython(migrations.RunPython.noop, sqlite_trigger_back),
        migrations.AlterModelOptions(
            name="auditentry",
            options={"ordering": ["portfolio_id", "seq"], "verbose_name_plural": "audit entries"},
        ),
        migrations.AddField(
            model_name="auditentry",
            name="effective_at",
            field=models.DateTimeField(
                blank=True, help_text="When the change took effect, if not when it was recorded.", null=True
            ),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="recorded_at",
            field=models.DateTimeField(editable=False, help_text="When the database recorded the row.", null=True),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="recorded_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(),
                editable=False,
                help_text="When the database recorded the row.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="created_at",
            field=models.DateTimeField(help_text="The writing process's clock (hashed)."),
        ),
        migrations.AlterField(model_name="allocationpolicy", name="created_at", field=_clock_default()),
        migrations.AlterField(model_name="allocationrun", name="created_at", field=_clock_default()),
        migrations.AlterField(model_name="equitychange", name="requested_at", field=_clock_default()),
        migrations.AlterField(model_name="sectorsignal", name="created_at", field=_clock_default()),
        migrations.AlterField(model_name="transitionschedule", name="created_at", field=_clock_default()),
        migrations.RunPython(sqlite_trigger_back, migrations.RunPython.noop),
    ]
