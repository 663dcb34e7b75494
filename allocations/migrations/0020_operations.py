# Issue 21 (hardening round 3), part D: operations. Workers' heartbeats for /health/, and the job
# executions a dead worker left running marked lost.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("allocations", "0019_webhooks_hardened")]

    operations = [
        migrations.CreateModel(
            name="WorkerHeartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "hostname",
                    models.CharField(help_text="The worker's node name (name@host).", max_length=255, unique=True),
                ),
                ("pid", models.PositiveIntegerField()),
                ("beat_at", models.DateTimeField()),
            ],
            options={"ordering": ["-beat_at"]},
        ),
        migrations.AlterField(
            model_name="jobexecution",
            name="status",
            field=models.CharField(
                choices=[("running", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed"), ("lost", "Lost")],
                default="running",
                max_length=12,
            ),
        ),
    ]
