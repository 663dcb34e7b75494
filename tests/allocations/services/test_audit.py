"""The audit trail: hash-chained per portfolio, append-only in code and in the database."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from importlib import import_module
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from allocations.audit_chain import GENESIS_HASH
from allocations.models import AuditEntry, AuditTrailIsAppendOnly
from allocations.selectors.core import audit_verify
from allocations.services.audit import AuditRecord, audit_append
from allocations.services.funds import fund_set
from tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db
TABLE = AuditEntry._meta.db_table
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def trail(portfolio, other_portfolio, strategies, actor):
    """Five fund changes on ``portfolio`` interleaved with two on ``other_portfolio``."""
    foreign = StrategyFactory(portfolio=other_portfolio, code="beta-a")
    fund_set(portfolio=portfolio, strategy="tech-a", amount="100", actor=actor, reason="one")
    fund_set(portfolio=other_portfolio, strategy=foreign, amount="7", actor=actor, reason="b one")
    fund_set(portfolio=portfolio, strategy="tech-b", amount="200", actor=actor, reason="two")
    fund_set(portfolio=portfolio, strategy="ener-a", amount="300", actor=actor, reason="three")
    fund_set(portfolio=other_portfolio, strategy=foreign, amount="8", actor=actor, reason="b two")
    fund_set(portfolio=portfolio, strategy="tech-a", amount="150", actor=actor, reason="four")
    fund_set(portfolio=portfolio, strategy="tech-b", amount="250", actor=actor, reason="five")
    return list(AuditEntry.objects.filter(portfolio=portfolio).order_by("id"))


def _independent_hash(entry: AuditEntry) -> str:
    """sha256 of the row's content as sorted, compact JSON followed by prev_hash (the documented formula)."""

    def money(value):
        return None if value is None else f"{value:.2f}"

    content = {
        "portfolio": entry.portfolio_id,
        "kind": entry.kind,
        "created_at": entry.created_at.isoformat(),
        "strategy": entry.strategy_id,
        "run": entry.run_id,
        "step": entry.step_id,
        "old_amount": money(entry.old_amount),
        "new_amount": money(entry.new_amount),
        "total_capital": money(entry.total_capital),
        "actor": entry.actor_id,
        "actor_label": entry.actor_label,
        "reason": entry.reason,
        "payload": entry.payload,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((canonical + entry.prev_hash).encode("utf-8")).hexdigest()


def test_chain_links_each_row_to_its_predecessor_per_portfolio(trail, other_portfolio):
    assert [e.reason for e in trail] == ["one", "two", "three", "four", "five"]
    assert trail[0].prev_hash == GENESIS_HASH == "0" * 64
    for previous, entry in zip(trail, trail[1:], strict=False):
        assert entry.prev_hash == previous.entry_hash
    other = list(AuditEntry.objects.filter(portfolio=other_portfolio).order_by("id"))
    assert [e.reason for e in other] == ["b one", "b two"]
    assert other[0].prev_hash == GENESIS_HASH
    assert other[1].prev_hash == other[0].entry_hash


def test_entry_hash_is_sha256_of_canonical_content_and_prev_hash(trail):
    for entry in AuditEntry.objects.all():
        assert entry.entry_hash == _independent_hash(entry)
        assert len(entry.entry_hash) == 64


def test_payload_survives_the_database_round_trip(portfolio, actor):
    with transaction.atomic():
        audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(kind="data_import", payload={"b": Decimal("1.5"), "a": [1, "x"], "when": None}),
        )
    stored = AuditEntry.objects.get()
    assert stored.entry_hash == _independent_hash(stored)
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_audit_append_outside_a_transaction_is_refused(portfolio, actor):
    """An audit row must be written in the transaction of the change it records."""
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_append(portfolio=portfolio, actor=actor, record=AuditRecord(kind="data_import"))
    assert not AuditEntry.objects.exists()


def test_audit_verify_ok_on_intact_trail(trail):
    result = audit_verify()
    assert result.ok
    assert result.checked == AuditEntry.objects.count() == 7
    out = _call_verify()
    assert "intact" in out and "7 rows" in out


def _call_verify(*args) -> str:
    from io import StringIO

    buffer = StringIO()
    call_command("verify_audit", *args, stdout=buffer)
    return buffer.getvalue()


def test_instance_save_and_delete_are_refused(trail):
    entry = AuditEntry.objects.get(pk=trail[2].pk)
    entry.reason = "rewritten"
    with pytest.raises(AuditTrailIsAppendOnly):
        entry.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        entry.delete()
    assert AuditEntry.objects.get(pk=trail[2].pk).reason == "three"
    assert AuditEntry.objects.count() == 7


def test_queryset_delete_is_refused(trail):
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEntry.objects.filter(pk=trail[0].pk).delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.count() == 7


def test_queryset_update_is_refused_by_the_database(trail):
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        AuditEntry.objects.filter(pk=trail[1].pk).update(reason="rewritten")
    assert "append-only" in str(caught.value)
    if connection.vendor == "postgresql":
        assert caught.value.__cause__.sqlstate == "23001"
    assert AuditEntry.objects.get(pk=trail[1].pk).reason == "two"
    assert audit_verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET new_amount = 1 WHERE id = %s",
        f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
    ],
)
def test_raw_sql_update_and_delete_are_refused_on_postgresql(trail, sql):
    with pytest.raises(IntegrityError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [trail[2].pk])
    assert caught.value.__cause__.sqlstate == "23001"
    assert "append-only" in str(caught.value)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
    assert AuditEntry.objects.count() == 7
    assert AuditEntry.objects.get(pk=trail[2].pk).new_amount == Decimal("300.00")


def test_raw_sql_update_is_refused_on_sqlite(trail):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite trigger; PostgreSQL has its own test")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET new_amount = 1 WHERE id = %s", [trail[2].pk])
    assert AuditEntry.objects.get(pk=trail[2].pk).new_amount == Decimal("300.00")


def _behind_the_triggers_back(sql: str, params) -> None:
    """Run ``sql`` with the append-only trigger out of the way, then put it back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
        else:
            cursor.execute("DROP TRIGGER allocations_audit_no_update")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute(import_module("allocations.migrations.0002_audit_append_only").SQLITE_FORWARD)


@pytest.mark.parametrize(
    "column, value",
    [("reason", "nothing to see here"), ("new_amount", "1000000.00"), ("actor_label", "user:someone-else")],
)
def test_verify_audit_names_a_row_altered_behind_the_triggers_back(trail, column, value):
    target = trail[2]
    _behind_the_triggers_back(f"UPDATE {TABLE} SET {column} = %s WHERE id = %s", [value, target.pk])
    assert str(getattr(AuditEntry.objects.get(pk=target.pk), column)) == value  # the change really landed

    result = audit_verify()
    assert not result.ok
    assert result.first_bad.pk == target.pk
    assert "altered" in result.problem
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    assert f"row {target.pk} " in str(caught.value)
    # The trigger is back in force afterwards.
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.filter(pk=target.pk).update(reason="again")


def test_verify_audit_of_one_portfolio_ignores_the_other(trail, portfolio, other_portfolio):
    target = AuditEntry.objects.filter(portfolio=other_portfolio).order_by("id").first()
    _behind_the_triggers_back(f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", [target.pk])
    assert "5 rows" in _call_verify("--portfolio", portfolio.slug)
    with pytest.raises(CommandError, match=f"row {target.pk} "):
        call_command("verify_audit", "--portfolio", other_portfolio.slug)
    with pytest.raises(CommandError, match="unknown portfolio"):
        call_command("verify_audit", "--portfolio", "nope")


def test_verify_audit_catches_a_forged_hash_pair(trail):
    """Re-hashing an altered row is not enough: its successor still points at the old hash."""
    target = trail[1]
    forged_reason = "forged"
    target.reason = forged_reason
    forged_hash = _independent_hash(target)
    _behind_the_triggers_back(
        f"UPDATE {TABLE} SET reason = %s, entry_hash = %s WHERE id = %s",
        [forged_reason, forged_hash, target.pk],
    )
    result = audit_verify()
    assert not result.ok
    assert result.first_bad.pk == trail[2].pk
    assert "predecessor" in result.problem


def test_verify_audit_catches_a_deleted_middle_row(trail):
    # PostgreSQL refuses the DELETE unless the trigger is bypassed; SQLite leaves DELETE to the model guards.
    removed, successor = trail[2], trail[3]
    _behind_the_triggers_back(f"DELETE FROM {TABLE} WHERE id = %s", [removed.pk])
    assert not AuditEntry.objects.filter(pk=removed.pk).exists()
    result = audit_verify()
    assert not result.ok
    assert result.first_bad.pk == successor.pk
    assert "removed" in result.problem
    with pytest.raises(CommandError, match=f"row {successor.pk} "):
        call_command("verify_audit")


def test_verify_audit_exits_non_zero_in_a_real_process(tmp_path):
    """The command as an operator runs it: a fresh SQLite file, a tampered row, exit status 1."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
    }
    env.pop("CELERY_BROKER_URL", None)

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    script = (
        "from django.db import connection\n"
        "from allocations.models import Portfolio, Sector, Strategy\n"
        "from allocations.services.actors import Actor\n"
        "from allocations.services.funds import fund_set\n"
        "p = Portfolio.objects.create(slug='sub', name='Sub')\n"
        "s = Sector.objects.create(code='tech', name='Tech')\n"
        "for i in range(3):\n"
        "    Strategy.objects.create(portfolio=p, code=f's{i}', name=f's{i}', sector=s)\n"
        "    fund_set(portfolio=p, strategy=f's{i}', amount=100 * (i + 1), actor=Actor.command('test'))\n"
    )
    setup = manage("migrate", "--noinput", "-v", "0")
    assert setup.returncode == 0, setup.stderr
    made = manage("shell", "-c", script)
    assert made.returncode == 0, made.stderr

    intact = manage("verify_audit")
    assert intact.returncode == 0, intact.stderr
    assert "3 rows" in intact.stdout

    import sqlite3

    db = sqlite3.connect(tmp_path / "audit.sqlite3")
    (middle,) = db.execute(f"SELECT id FROM {TABLE} ORDER BY id LIMIT 1 OFFSET 1").fetchone()
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(f"UPDATE {TABLE} SET reason = 'x' WHERE id = ?", (middle,))
    db.execute("DROP TRIGGER allocations_audit_no_update")
    db.execute(f"UPDATE {TABLE} SET new_amount = '999.00' WHERE id = ?", (middle,))
    db.commit()
    db.close()

    broken = manage("verify_audit")
    assert broken.returncode != 0
    assert f"row {middle} " in broken.stderr
