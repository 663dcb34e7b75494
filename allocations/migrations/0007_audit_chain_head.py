"""Each portfolio's audit chain gets a head outside the audit table (issue 8 item 12).

Existing rows are not rewritten. They keep their plain sha256 hashes (scheme 1) and the head
created here counts them (``legacy_count``); rows appended from now on are HMAC-SHA256 under
``AUDIT_HMAC_KEY`` (scheme 2) and chain on from the last legacy row, so the first keyed row and
the signed head pin the legacy rows: rewriting them needs the key all the same. Hashes exported
before the upgrade stay valid, and a chain that was already broken stays broken for
``verify_audit`` to report (re-hashing it here would launder the damage).

The heads are signed with ``AUDIT_HMAC_KEY``: migrate with the key the service runs with.

The database keeps the head moving forward only. PostgreSQL: a trigger refuses ``DELETE`` and an
``UPDATE`` that lowers ``count`` or changes ``legacy_count`` or the portfolio (``UPDATE`` is the
head's normal life, so it is not refused as such). SQLite: the same for ``UPDATE``; ``DELETE`` is
left to the model's guards as for the audit table, because the test runner empties SQLite tables
with ``DELETE``; the audit table's own SQLite trigger, lost when 0006 rebuilt that table, is
restored. Going back drops the heads; rows appended since then no longer verify under the
old, unkeyed code.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Max

from allocations.audit_chain import audit_key, head_signature

TABLE = "allocations_auditchainhead"

PG_FORWARD = f"""
CREATE OR REPLACE FUNCTION allocations_audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit chain head is never removed: DELETE on % refused', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.count < OLD.count OR NEW.legacy_count <> OLD.legacy_count OR NEW.portfolio_id <> OLD.portfolio_id THEN
        RAISE EXCEPTION 'the audit chain head only moves forward: UPDATE on % refused', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER allocations_audit_head_forward_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION allocations_audit_head_forward_only();
"""
PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS allocations_audit_head_forward_only ON {TABLE};
DROP FUNCTION IF EXISTS allocations_audit_head_forward_only();
"""
SQLITE_FORWARD = f"""
CREATE TRIGGER allocations_audit_head_forward_only BEFORE UPDATE ON {TABLE}
WHEN NEW.count < OLD.count OR NEW.legacy_count <> OLD.legacy_count OR NEW.portfolio_id <> OLD.portfolio_id
BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: UPDATE refused'); END;
"""
# SQLite rebuilds a table to alter it, which drops its triggers: 0006 did so to the audit table
# (its kind constraint), losing 0002's UPDATE trigger. Put it back if it is missing.
SQLITE_AUDIT_NO_UPDATE = """
CREATE TRIGGER IF NOT EXISTS allocations_audit_no_update BEFORE UPDATE ON allocations_auditentry
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS allocations_audit_head_forward_only;"


def create_chain_heads(apps, schema_editor):
    """A signed head for every portfolio with audit rows: its count and last hash, all rows legacy (sha256)."""
    AuditEntry = apps.get_model("allocations", "AuditEntry")
    AuditChainHead = apps.get_model("allocations", "AuditChainHead")
    db = schema_editor.connection.alias
    has_head = set(AuditChainHead.objects.using(db).values_list("portfolio_id", flat=True))
    tails = [
        tail
        for tail in AuditEntry.objects.using(db)
        .order_by()
        .values("portfolio_id")
        .annotate(count=Count("id"), last_id=Max("id"))
        if tail["portfolio_id"] not in has_head
    ]
    if not tails:
        return
    last_ids = [tail["last_id"] for tail in tails]
    last_hash = {}
    for start in range(0, len(last_ids), 500):
        chunk = last_ids[start : start + 500]
        last_hash.update(AuditEntry.objects.using(db).filter(id__in=chunk).values_list("id", "entry_hash"))
    key = audit_key()
    heads = []
    for tail in tails:
        portfolio_id, count, hash_ = tail["portfolio_id"], tail["count"], last_hash[tail["last_id"]]
        signature = head_signature(key, portfolio_id=portfolio_id, count=count, last_hash=hash_, legacy_count=count)
        heads.append(
            AuditChainHead(
                portfolio_id=portfolio_id, count=count, last_hash=hash_, legacy_count=count, signature=signature
            )
        )
    AuditChainHead.objects.using(db).bulk_create(heads, batch_size=500)


def add_triggers(apps, schema_editor):
    sql = {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_AUDIT_NO_UPDATE, params=None)


def drop_triggers(apps, schema_editor):
    sql = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("allocations", "0006_equity_changes_and_superseded_runs")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "portfolio",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="audit_chain_head",
                        serialize=False,
                        to="allocations.portfolio",
                    ),
                ),
                ("count", models.PositiveBigIntegerField(help_text="Rows in the portfolio's audit chain.")),
                ("last_hash", models.CharField(help_text="entry_hash of the chain's last row.", max_length=64)),
                (
                    "legacy_count",
                    models.PositiveBigIntegerField(
                        default=0, help_text="Leading rows hashed with plain sha256 (before migration 0007)."
                    ),
                ),
                (
                    "signature",
                    models.CharField(help_text="HMAC-SHA256 of the head under AUDIT_HMAC_KEY.", max_length=64),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("legacy_count__lte", models.F("count"))),
                        name="audit_head_legacy_in_count",
                    )
                ],
            },
        ),
        migrations.RunPython(create_chain_heads, migrations.RunPython.noop),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
