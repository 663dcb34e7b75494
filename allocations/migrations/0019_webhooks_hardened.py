"""Issue 21 (hardening round 3), part C: webhook configuration audited (a new audit kind, so the kinds'
check constraint is replaced) and webhook secrets encrypted at rest (``allocations.secret_fields``; the
key comes from the environment, never the database). Every existing secret is encrypted here; going
back writes them in plain text again.

SQLite rebuilds the audit table to replace its constraint, which drops its UPDATE trigger: 0011's is
put back at the end (and, going back, at the end of the reversal).
"""

from importlib import import_module

from django.db import migrations, models
from django.db.models import CharField, Value

import allocations.secret_fields

sqlite_trigger_back = import_module("allocations.migrations.0011_audit_fewer_indexes").sqlite_trigger_back

KINDS = [
    "fund_change",
    "run_created",
    "run_approved",
    "run_rejected",
    "run_superseded",
    "equity_change",
    "policy_change",
    "method_change",
    "schedule_cancelled",
    "schedule_superseded",
    "step_applied",
    "strategy_change",
    "data_import",
    "webhook_change",
]


def encrypt_secrets(apps, schema_editor):
    endpoint = apps.get_model("allocations", "WebhookEndpoint")
    # values_list reads a plain secret as it is; update() writes it through the field, encrypted
    for pk, secret in endpoint.objects.values_list("pk", "secret"):
        endpoint.objects.filter(pk=pk).update(secret=secret)


def decrypt_secrets(apps, schema_editor):
    endpoint = apps.get_model("allocations", "WebhookEndpoint")
    for pk, secret in endpoint.objects.values_list("pk", "secret"):  # decrypted on read
        endpoint.objects.filter(pk=pk).update(secret=Value(secret, output_field=CharField()))


class Migration(migrations.Migration):
    dependencies = [("allocations", "0018_four_eyes_everywhere")]

    operations = [
        # Going back, the last step: SQLite's rebuilds below drop its UPDATE trigger.
        migrations.RunPython(migrations.RunPython.noop, sqlite_trigger_back),
        migrations.RemoveConstraint(model_name="auditentry", name="audit_kind_valid"),
        migrations.AlterField(
            model_name="auditentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("fund_change", "Fund change"),
                    ("run_created", "Run created"),
                    ("run_approved", "Run approved"),
                    ("run_rejected", "Run rejected"),
                    ("run_superseded", "Pending run superseded"),
                    ("equity_change", "Equity change"),
                    ("policy_change", "Policy change"),
                    ("method_change", "Method change"),
                    ("schedule_cancelled", "Schedule cancelled"),
                    ("schedule_superseded", "Schedule superseded"),
                    ("step_applied", "Transition step applied"),
                    ("strategy_change", "Strategy change"),
                    ("data_import", "Data import"),
                    ("webhook_change", "Webhook endpoint change"),
                ],
                max_length=24,
            ),
        ),
        migrations.AddConstraint(
            model_name="auditentry",
            constraint=models.CheckConstraint(condition=models.Q(("kind__in", KINDS)), name="audit_kind_valid"),
        ),
        migrations.RunPython(sqlite_trigger_back, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=allocations.secret_fields.EncryptedSecretField(
                help_text="HMAC-SHA256 key of the X-CAE-Signature header.", max_length=400
            ),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets, elidable=False),
    ]
