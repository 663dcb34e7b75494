# Issue 21 (hardening round 3), part B: policy proposals (four eyes on a policy change that loosens),
# the outbox event of funds scaled down by an equity cut, and on PostgreSQL a deferred check that no
# commit leaves a portfolio's funds above its equity.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import allocations.clock

# Deferred to the commit: inside a transaction the funds may pass the equity for a moment (an
# equity cut lowers the equity, then scales the funds down). Only what can push the funds above
# the equity fires (a fund raised or created, the equity lowered), and each portfolio is summed
# once per checking statement (the commit), not once per fund row: the guard is keyed by the
# statement's start time, so a SET CONSTRAINTS ... IMMEDIATE earlier in the transaction still lets
# the commit check again.
PG_FORWARD = """
CREATE FUNCTION allocations_funds_within_equity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid bigint;
    invested numeric;
    equity numeric;
    guard text;
BEGIN
    IF TG_TABLE_NAME = 'allocations_fund' THEN
        SELECT portfolio_id INTO pid FROM allocations_strategy WHERE id = NEW.strategy_id;
    ELSE
        pid := NEW.id;
    END IF;
    guard := 'allocations.funds_checked_' || pid;
    IF current_setting(guard, true) = statement_timestamp()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(guard, statement_timestamp()::text, true);
    SELECT total_equity INTO equity FROM allocations_portfolio WHERE id = pid;
    SELECT COALESCE(SUM(f.amount), 0) INTO invested
        FROM allocations_fund f JOIN allocations_strategy s ON s.id = f.strategy_id
        WHERE s.portfolio_id = pid;
    IF invested > equity THEN
        RAISE EXCEPTION 'portfolio %: its funds (%) are above its equity (%)', pid, invested, equity
            USING ERRCODE = 'check_violation', CONSTRAINT = 'funds_within_equity';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER funds_within_equity_insert AFTER INSERT ON allocations_fund
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.amount > 0)
    EXECUTE FUNCTION allocations_funds_within_equity();
CREATE CONSTRAINT TRIGGER funds_within_equity_update AFTER UPDATE ON allocations_fund
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.amount > OLD.amount OR NEW.strategy_id <> OLD.strategy_id)
    EXECUTE FUNCTION allocations_funds_within_equity();
CREATE CONSTRAINT TRIGGER funds_within_equity_portfolio AFTER UPDATE ON allocations_portfolio
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.total_equity < OLD.total_equity)
    EXECUTE FUNCTION allocations_funds_within_equity();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS funds_within_equity_portfolio ON allocations_portfolio;
DROP TRIGGER IF EXISTS funds_within_equity_update ON allocations_fund;
DROP TRIGGER IF EXISTS funds_within_equity_insert ON allocations_fund;
DROP FUNCTION IF EXISTS allocations_funds_within_equity();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("allocations", "0017_audit_recorded_and_effective_time"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PolicyProposal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("changes", models.JSONField(help_text="Field -> proposed value (times as HH:MM:SS).")),
                ("reason", models.TextField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending_approval", "Pending approval"),
                            ("applied", "Applied"),
                            ("rejected", "Rejected"),
                            ("superseded", "Superseded by a newer proposal"),
                        ],
                        max_length=20,
                    ),
                ),
                ("requested_at", models.DateTimeField(default=allocations.clock.now, editable=False)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decision_reason", models.TextField(blank=True, default="")),
                (
                    "applied_policy",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="allocations.allocationpolicy",
                    ),
                ),
                (
                    "base_policy",
                    models.ForeignKey(
                        help_text="The version in force.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="allocations.allocationpolicy",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "portfolio",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="policy_proposals",
                        to="allocations.portfolio",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-requested_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["pending_approval", "applied", "rejected", "superseded"])),
                        name="policy_proposal_status_valid",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("status", "pending_approval")),
                        fields=("portfolio",),
                        name="policy_proposal_one_pending_per_portfolio",
                    ),
                ],
            },
        ),
        # an equity cut that scales the funds down writes an outbox event, with no run behind it
        migrations.AlterField(
            model_name="outboxevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("allocation.target_approved", "Target approved"),
                    ("allocation.step_applied", "Step applied"),
                    ("portfolio.funds_scaled", "Funds scaled down to a lower equity"),
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="outboxevent",
            name="run",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="allocations.allocationrun",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
