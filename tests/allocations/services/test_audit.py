"""The audit trail: hash-chained per portfolio, append-only in code and in the database."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from decimal import Decimal
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from allocations.audit_chain import GENESIS_HASH
from allocations.models import AuditEntry, AuditTrailIsAppendOnly
from allocations.selectors.audit import audit_verify
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


def _independent_canonical(entry: AuditEntry) -> str:
    """The row's content as sorted, compact JSON (the documented formula)."""

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
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _independent_hash(entry: AuditEntry) -> str:
    """Plain sha256 of canonical content + prev_hash: the scheme before 0007, what an owner without the key computes."""
    return hashlib.sha256((_independent_canonical(entry) + entry.prev_hash).encode("utf-8")).hexdigest()


def _keyed_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """HMAC-SHA256 under the audit key of canonical content + prev_hash: the scheme from 0007 on."""
    key = settings.AUDIT_HMAC_KEY.encode("utf-8") if key is None else key
    message = (_independent_canonical(entry) + entry.prev_hash).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def test_chain_links_each_row_to_its_predecessor_per_portfolio(trail, other_portfolio):
    assert [e.reason for e in trail] == ["one", "two", "three", "four", "five"]
    assert trail[0].prev_hash == GENESIS_HASH == "0" * 64
    for previous, entry in zip(trail, trail[1:], strict=False):
        assert entry.prev_hash == previous.entry_hash
    other = list(AuditEntry.objects.filter(portfolio=other_portfolio).order_by("id"))
    assert [e.reason for e in other] == ["b one", "b two"]
    assert other[0].prev_hash == GENESIS_HASH
    assert other[1].prev_hash == other[0].entry_hash


def test_entry_hash_is_hmac_sha256_of_canonical_content_and_prev_hash(trail):
    for entry in AuditEntry.objects.all():
        assert entry.entry_hash == _keyed_hash(entry)
        assert len(entry.entry_hash) == 64


def test_payload_survives_the_database_round_trip(portfolio, actor):
    with transaction.atomic():
        audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(kind="data_import", payload={"b": Decimal("1.5"), "a": [1, "x"], "when": None}),
        )
    stored = AuditEntry.objects.get()
    assert stored.entry_hash == _keyed_hash(stored)
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
    """Run ``sql`` with the append-only triggers (audit table and chain head) out of the way, then put them back.

    This is what the tables' owner can do; the tests below check that ``verify_audit`` still notices.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'allocations_audit%'"
            )
            triggers = cursor.fetchall()
            assert "allocations_audit_no_update" in {name for name, _ in triggers}
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {name}")
            try:
                cursor.execute(sql, params)
            finally:
                for _, create in triggers:
                    cursor.execute(create)


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
    """Re-hashing an altered row, even with the key, is not enough: its successor still points at the old hash."""
    target = trail[1]
    forged_reason = "forged"
    target.reason = forged_reason
    forged_hash = _keyed_hash(target)
    _behind_the_triggers_back(
        f"UPDATE {TABLE} SET reason = %s, entry_hash = %s WHERE id = %s",
        [forged_reason, forged_hash, target.pk],
    )
    result = audit_verify()
    assert not result.ok
    assert result.first_bad.pk == trail[2].pk
    assert "predecessor" in result.problem


def assert_verify_finds(first_bad, problem: str):
    """``audit_verify`` and the ``verify_audit`` command both name ``first_bad`` as the first broken row."""
    result = audit_verify()
    assert not result.ok
    assert result.first_bad.pk == first_bad.pk
    assert problem in result.problem
    with pytest.raises(CommandError, match=f"row {first_bad.pk} "):
        call_command("verify_audit")


def test_verify_audit_catches_a_deleted_middle_row(trail):
    # PostgreSQL refuses the DELETE unless the trigger is bypassed; SQLite leaves DELETE to the model guards.
    removed, successor = trail[2], trail[3]
    _behind_the_triggers_back(f"DELETE FROM {TABLE} WHERE id = %s", [removed.pk])
    assert not AuditEntry.objects.filter(pk=removed.pk).exists()
    assert_verify_finds(successor, "removed")


def manage_in_its_own_process(database):
    """``manage.py`` as an operator runs it: its own process, on the SQLite file ``database``, no broker."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.test",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    env.pop("CELERY_BROKER_URL", None)

    def manage(*args, timeout=120):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )

    return manage


@pytest.mark.slow
def test_verify_audit_exits_non_zero_in_a_real_process(tmp_path):
    """The command as an operator runs it: a fresh SQLite file, a tampered row, exit status 1."""
    manage = manage_in_its_own_process(tmp_path / "audit.sqlite3")

    script = (
        "from django.db import connection\n"
        "from allocations.models import Portfolio, Sector, Strategy\n"
        "from allocations.services.actors import Actor\n"
        "from allocations.services.funds import fund_set\n"
        "p = Portfolio.objects.create(slug='sub', name='Sub', total_equity=1000)\n"
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


# --- issue 8 item 12: the chain head outside the table, and a key the database does not hold ----------

HEAD_TABLE = "allocations_auditchainhead"


def _head_of(portfolio):
    from allocations.models import AuditChainHead

    return AuditChainHead.objects.get(portfolio=portfolio)


def _rewrite_with_plain_sha256(rows: list[AuditEntry], reason: str) -> None:
    """What an owner without the key does: alter ``rows[0]`` and re-chain it and its successors with sha256."""
    prev = rows[0].prev_hash
    for index, row in enumerate(rows):
        if index == 0:
            row.reason = reason
        row.prev_hash = prev
        row.entry_hash = _independent_hash(row)
        _behind_the_triggers_back(
            f"UPDATE {TABLE} SET reason = %s, prev_hash = %s, entry_hash = %s WHERE id = %s",
            [row.reason, row.prev_hash, row.entry_hash, row.pk],
        )
        prev = row.entry_hash


def test_verify_audit_catches_the_last_row_deleted(trail, portfolio, other_portfolio):
    """The tail has no successor to notice it is gone: the chain head does."""
    last = trail[-1]
    _behind_the_triggers_back(f"DELETE FROM {TABLE} WHERE id = %s", [last.pk])
    assert AuditEntry.objects.filter(portfolio=portfolio).count() == 4

    result = audit_verify()
    assert not result.ok
    assert "the chain head says 5 rows" in result.problem
    assert f"hash {last.entry_hash}" in result.problem
    assert "the table has 4" in result.problem
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    message = str(caught.value)
    assert portfolio.slug in message and "the chain head says 5 rows" in message and "the table has 4" in message
    assert not audit_verify(portfolio=portfolio).ok
    assert "2 rows" in _call_verify("--portfolio", other_portfolio.slug)  # the other chain is untouched


def test_verify_audit_catches_every_row_of_a_portfolio_deleted(trail, portfolio, other_portfolio):
    for entry in AuditEntry.objects.filter(portfolio=other_portfolio):
        _behind_the_triggers_back(f"DELETE FROM {TABLE} WHERE id = %s", [entry.pk])
    result = audit_verify()
    assert not result.ok
    assert "the chain head says 2 rows" in result.problem and "the table has 0" in result.problem
    assert "5 rows" in _call_verify("--portfolio", portfolio.slug)
    with pytest.raises(CommandError, match="the table has 0"):
        call_command("verify_audit", "--portfolio", other_portfolio.slug)


def test_verify_audit_catches_the_last_row_deleted_and_the_head_moved_back(trail, portfolio):
    """The owner can update the head too, but cannot sign it: the head carries an HMAC of its own."""
    last, before_last = trail[-1], trail[-2]
    _behind_the_triggers_back(f"DELETE FROM {TABLE} WHERE id = %s", [last.pk])
    _behind_the_triggers_back(
        f"UPDATE {HEAD_TABLE} SET count = 4, last_hash = %s WHERE portfolio_id = %s",
        [before_last.entry_hash, portfolio.pk],
    )
    result = audit_verify(portfolio=portfolio)
    assert not result.ok
    assert "chain head" in result.problem and "signature" in result.problem


def test_verify_audit_catches_a_missing_chain_head(trail, portfolio):
    _behind_the_triggers_back(f"DELETE FROM {HEAD_TABLE} WHERE portfolio_id = %s", [portfolio.pk])
    result = audit_verify()
    assert not result.ok
    assert "no chain head" in result.problem
    with pytest.raises(CommandError, match="no chain head"):
        call_command("verify_audit")


@pytest.mark.parametrize("position", [4, 1], ids=["last-row", "middle-row-and-its-successors"])
def test_verify_audit_catches_a_row_rewritten_with_a_recomputed_plain_sha256(trail, position):
    """Without the key, a recomputed hash is just wrong: the rewritten row itself is named."""
    target = trail[position]
    _rewrite_with_plain_sha256(trail[position:], reason="nothing to see here")
    assert AuditEntry.objects.get(pk=target.pk).reason == "nothing to see here"  # the change really landed

    assert_verify_finds(target, "altered")


def test_verify_audit_passes_on_an_untouched_chain_and_the_head_follows_every_append(portfolio, strategies, actor):
    from allocations.services.audit import BULK_THRESHOLD, audit_append_many

    with transaction.atomic():
        for i in range(3):
            audit_append(portfolio=portfolio, actor=actor, record=AuditRecord(kind="data_import", reason=f"s{i}"))
    with transaction.atomic():  # the streamed path (COPY on PostgreSQL)
        records = [AuditRecord(kind="data_import", reason=f"b{i}") for i in range(BULK_THRESHOLD + 5)]
        audit_append_many(portfolio=portfolio, actor=actor, records=records)
    fund_set(portfolio=portfolio, strategy="tech-a", amount="10", actor=actor)
    with pytest.raises(RuntimeError, match="the change failed"), transaction.atomic():
        # a change that rolls back leaves neither a row nor a moved head
        audit_append(portfolio=portfolio, actor=actor, record=AuditRecord(kind="data_import", reason="rolled back"))
        raise RuntimeError("the change failed")

    rows = list(AuditEntry.objects.filter(portfolio=portfolio).order_by("id"))
    assert len(rows) == 3 + BULK_THRESHOLD + 5 + 1
    head = _head_of(portfolio)
    assert (head.count, head.last_hash) == (len(rows), rows[-1].entry_hash)
    result = audit_verify()
    assert result.ok and result.checked == len(rows)
    assert f"{len(rows)} rows" in _call_verify()


def test_entry_hash_is_keyed_with_the_audit_hmac_key(trail):
    for entry in AuditEntry.objects.all():
        assert entry.entry_hash == _keyed_hash(entry, settings.AUDIT_HMAC_KEY.encode("utf-8"))
        assert entry.entry_hash != _independent_hash(entry)
    with override_settings(AUDIT_HMAC_KEY="another key altogether"):
        result = audit_verify()
    assert not result.ok and "altered" in result.problem


@pytest.mark.postgres
def test_chain_head_cannot_be_deleted_or_moved_back_on_postgresql(trail, portfolio):
    for sql in (
        f"DELETE FROM {HEAD_TABLE} WHERE portfolio_id = %s",
        f"UPDATE {HEAD_TABLE} SET count = count - 1 WHERE portfolio_id = %s",
    ):
        with pytest.raises(IntegrityError) as caught, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [portfolio.pk])
        assert caught.value.__cause__.sqlstate == "23001"
    assert _head_of(portfolio).count == 5
    assert audit_verify().ok


# --- the migration: chains written before 0007 (plain sha256) keep verifying --------------------------


def _row_not_from_the_service(portfolio, actor, *, reason: str, payload: dict, prev_hash: str, seq: int) -> AuditEntry:
    """An unsaved, unhashed ``data_import`` row made now, as code other than the audit service would make it."""
    return AuditEntry(
        portfolio=portfolio,
        kind="data_import",
        created_at=timezone.now(),
        actor_id=actor.user_id,
        actor_label=actor.label,
        reason=reason,
        payload=payload,
        prev_hash=prev_hash,
        seq=seq,
    )


def _legacy_chain(portfolio, actor, reasons: list[str]) -> list[AuditEntry]:
    """Rows as the code before 0007 wrote them: plain sha256, no chain head."""
    from allocations.audit_chain import normalise_payload

    prev, rows = GENESIS_HASH, []
    for position, reason in enumerate(reasons, start=1):
        entry = _row_not_from_the_service(
            portfolio, actor, reason=reason, payload=normalise_payload({"reason": reason}), prev_hash=prev, seq=position
        )
        entry.entry_hash = _independent_hash(entry)
        prev = entry.entry_hash
        rows.append(entry)
    return AuditEntry.objects.bulk_create(rows)


class _SchemaEditor:
    connection = connection


def _run_the_migration() -> None:
    from django.apps import apps

    migration = import_module("allocations.migrations.0007_audit_chain_head")
    migration.create_chain_heads(apps, _SchemaEditor())


def test_the_migration_gives_existing_chains_a_head_and_they_keep_verifying(portfolio, other_portfolio, actor):
    legacy = _legacy_chain(portfolio, actor, ["l1", "l2", "l3"])
    other = _legacy_chain(other_portfolio, actor, ["o1", "o2"])
    _run_the_migration()

    head = _head_of(portfolio)
    assert (head.count, head.last_hash, head.legacy_count) == (3, legacy[-1].entry_hash, 3)
    assert AuditEntry.objects.get(pk=legacy[0].pk).entry_hash == legacy[0].entry_hash  # rows are not rewritten
    result = audit_verify()
    assert result.ok and result.checked == 5

    with transaction.atomic():  # new rows chain on with the key, after the legacy ones
        audit_append(portfolio=portfolio, actor=actor, record=AuditRecord(kind="data_import", reason="keyed"))
    assert _head_of(portfolio).count == 4
    assert audit_verify().ok and audit_verify().checked == 6
    assert _head_of(other_portfolio).last_hash == other[-1].entry_hash


def test_legacy_rows_rewritten_with_plain_sha256_fail_at_the_keyed_anchor(portfolio, other_portfolio, actor):
    """A legacy prefix re-chained without the key breaks the first keyed row's link, or the signed head."""
    legacy = _legacy_chain(portfolio, actor, ["l1", "l2", "l3"])
    other = _legacy_chain(other_portfolio, actor, ["o1", "o2"])
    _run_the_migration()
    with transaction.atomic():
        keyed = audit_append(portfolio=portfolio, actor=actor, record=AuditRecord(kind="data_import", reason="k"))

    _rewrite_with_plain_sha256(legacy[1:], reason="forged")
    result = audit_verify(portfolio=portfolio)
    assert not result.ok and result.first_bad.pk == keyed.pk and "predecessor" in result.problem

    _rewrite_with_plain_sha256(other[1:], reason="forged")
    result = audit_verify(portfolio=other_portfolio)
    assert not result.ok and "chain head" in result.problem


@pytest.mark.slow
def test_the_migration_in_a_real_process(tmp_path):
    """``migrate`` from 0006 on a database holding sha256 chains: ``verify_audit`` passes before and after appends."""
    run = manage_in_its_own_process(tmp_path / "legacy.sqlite3")

    def manage(*args):
        done = run(*args, timeout=180)
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "allocations", "0006", "--noinput", "-v", "0")
    legacy_rows = (
        "import hashlib\n"
        "from django.db import connection\n"
        "from django.db.migrations.loader import MigrationLoader\n"
        "from django.utils import timezone\n"
        "from allocations.audit_chain import canonical_content\n"
        "before = ('allocations', '0006_equity_changes_and_superseded_runs')\n"
        "apps = MigrationLoader(connection).project_state(before).apps\n"
        "Portfolio = apps.get_model('allocations', 'Portfolio')\n"
        "AuditEntry = apps.get_model('allocations', 'AuditEntry')\n"
        "for slug in ('p1', 'p2'):\n"
        "    p = Portfolio.objects.create(slug=slug, name=slug)\n"
        "    prev = '0' * 64\n"
        "    for i in range(3):\n"
        "        row = dict(portfolio_id=p.pk, kind='data_import', created_at=timezone.now(), strategy_id=None,\n"
        "                   run_id=None, step_id=None, old_amount=None, new_amount=None, total_capital=None,\n"
        "                   actor_id=None, actor_label='command:legacy', reason=f'r{i}', payload={})\n"
        "        h = hashlib.sha256((canonical_content(**row) + prev).encode()).hexdigest()\n"
        "        AuditEntry.objects.create(prev_hash=prev, entry_hash=h, **row)\n"
        "        prev = h\n"
    )
    manage("shell", "-c", legacy_rows)
    manage("migrate", "--noinput", "-v", "0")
    assert "6 rows" in manage("verify_audit")
    heads = (
        "from allocations.models import AuditChainHead as H\n"
        "print(sorted(H.objects.values_list('count', 'legacy_count')))"
    )
    assert manage("shell", "-v", "0", "-c", heads).strip() == "[(3, 3), (3, 3)]"
    append = (
        "from django.db import transaction\n"
        "from allocations.models import Portfolio\n"
        "from allocations.services.actors import Actor\n"
        "from allocations.services.audit import AuditRecord, audit_append\n"
        "with transaction.atomic():\n"
        "    audit_append(portfolio=Portfolio.objects.get(slug='p1'), actor=Actor.command('test'),\n"
        "                 record=AuditRecord(kind='data_import', reason='after'))\n"
    )
    manage("shell", "-c", append)
    assert "7 rows" in manage("verify_audit")


def test_a_row_added_without_moving_the_head_is_named(trail, portfolio, actor):
    """Even with the key, a row inserted behind the service's back lies beyond the chain head."""
    last = trail[-1]
    entry = _row_not_from_the_service(
        portfolio, actor, reason="slipped in", payload={}, prev_hash=last.entry_hash, seq=last.seq + 1
    )
    entry.entry_hash = _keyed_hash(entry)
    AuditEntry.objects.bulk_create([entry])
    result = audit_verify(portfolio=portfolio)
    assert not result.ok
    assert result.first_bad.reason == "slipped in"
    assert "beyond the chain head's 5 rows" in result.problem


def test_appending_to_a_chain_whose_head_was_removed_is_refused(trail, portfolio, actor):
    from allocations.services.audit import AuditChainBroken

    _behind_the_triggers_back(f"DELETE FROM {HEAD_TABLE} WHERE portfolio_id = %s", [portfolio.pk])
    with pytest.raises(AuditChainBroken, match="no chain head"), transaction.atomic():
        audit_append(portfolio=portfolio, actor=actor, record=AuditRecord(kind="data_import", reason="after"))
    assert AuditEntry.objects.filter(portfolio=portfolio).count() == 5


# --- issue 14: the chain position (seq) is the fork guard, an integer index instead of two hash indexes ----


def _positions(portfolio) -> list[int]:
    return list(AuditEntry.objects.filter(portfolio=portfolio).order_by("id").values_list("seq", flat=True))


def test_seq_numbers_each_portfolios_chain_1_to_n_whatever_path_wrote_the_rows(portfolio, other_portfolio, actor):
    """Single rows, small batches and streamed ones (COPY on PostgreSQL), two chains interleaved."""
    from allocations.services.audit import BULK_THRESHOLD, audit_append_many

    def append(target, rows: int) -> list[AuditEntry]:
        with transaction.atomic():
            records = [AuditRecord(kind="data_import", reason=f"r{i}") for i in range(rows)]
            return audit_append_many(portfolio=target, actor=actor, records=records)

    sizes = {portfolio: [1, BULK_THRESHOLD + 3, 2, 1], other_portfolio: [3, 1, BULK_THRESHOLD]}
    assert [e.seq for e in append(portfolio, 1)] == [1]  # the rows returned carry their position
    assert [e.seq for e in append(other_portfolio, 3)] == [1, 2, 3]
    append(portfolio, BULK_THRESHOLD + 3)
    append(other_portfolio, 1)
    assert [e.seq for e in append(portfolio, 2)] == [BULK_THRESHOLD + 5, BULK_THRESHOLD + 6]
    append(other_portfolio, BULK_THRESHOLD)
    fund_set(portfolio=portfolio, strategy=StrategyFactory(portfolio=portfolio), amount="5", actor=actor)

    for target, batches in sizes.items():
        assert _positions(target) == list(range(1, sum(batches) + 1))
        assert _head_of(target).count == sum(batches)
    result = audit_verify()
    assert result.ok and result.checked == AuditEntry.objects.count()


def test_a_second_row_at_a_chain_position_is_refused_by_the_database(trail, portfolio, other_portfolio, actor):
    """Two writers racing for the tail would both claim seq = head.count + 1: the second is refused,
    so the chain cannot fork. The same position in another portfolio's chain is that chain's own."""
    assert _positions(portfolio) == [1, 2, 3, 4, 5]
    last = trail[-1]
    for seq, prev_hash in [(last.seq, last.prev_hash), (3, trail[1].entry_hash)]:
        fork = _row_not_from_the_service(portfolio, actor, reason="fork", payload={}, prev_hash=prev_hash, seq=seq)
        fork.entry_hash = _keyed_hash(fork)
        with pytest.raises(IntegrityError), transaction.atomic():
            AuditEntry.objects.bulk_create([fork])
    assert AuditEntry.objects.filter(portfolio=portfolio).count() == 5
    with transaction.atomic():
        audit_append(portfolio=other_portfolio, actor=actor, record=AuditRecord(kind="data_import", reason="b three"))
    assert _positions(other_portfolio) == [1, 2, 3]
    assert audit_verify().ok


def test_the_fork_guard_is_one_integer_index_and_the_hashes_have_none(trail):
    """Every audit row feeds every index of the table: the two unique indexes of random 64-character
    hashes (``entry_hash``; ``portfolio, prev_hash``) are gone, ``portfolio, seq`` guards the chain."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    unique = {tuple(c["columns"]) for c in constraints.values() if c["unique"] and not c["primary_key"]}
    assert unique == {("portfolio_id", "seq")}
    assert "audit_chain_position_unique" in constraints
    assert not {"audit_chain_no_fork", "audit_entry_hash_unique"} & set(constraints)
    indexed = [c["columns"] for c in constraints.values() if c["index"] or c["unique"]]
    assert not [columns for columns in indexed if {"entry_hash", "prev_hash"} & set(columns or [])]
