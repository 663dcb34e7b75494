"""``manage.py verify_audit`` beyond the hashes (issue 14): each row's chain position (``seq`` is
1..n in id order per portfolio) and the rows its run, step and strategy keys point at (the
database no longer checks those keys)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from allocations.models import AuditChainHead, AuditEntry, Strategy
from allocations.selectors.audit import audit_verify
from allocations.services.audit import AuditRecord, audit_append
from allocations.services.funds import fund_set
from tests.allocations.services import test_audit
from tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db
TABLE = test_audit.TABLE
trail = test_audit.trail  # the fixture: five rows of ``portfolio`` interleaved with two of ``other_portfolio``
_behind_the_triggers_back = test_audit._behind_the_triggers_back


def _verify(*args) -> str:
    buffer = StringIO()
    call_command("verify_audit", *args, stdout=buffer)
    return buffer.getvalue()


def _refused(*args) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", *args)
    return str(caught.value)


def _set_seq(entry: AuditEntry, seq: int) -> None:
    _behind_the_triggers_back(f"UPDATE {TABLE} SET seq = %s WHERE id = %s", [seq, entry.pk])


def test_a_chain_position_off_its_place_is_named_though_every_hash_holds(trail):
    """``seq`` is not hashed (hashes written before it stay valid): the walk checks it row by row."""
    last = trail[-1]
    _set_seq(last, 9)  # a gap: the table's last row claims position 9 of 5
    result = audit_verify()
    assert not result.ok and result.first_bad.pk == last.pk
    assert "chain position (seq) is 9, its place in id order is 5" in result.problem
    message = _refused()
    assert f"row {last.pk} " in message and "seq" in message and "4 rows before it are intact" in message


def test_two_positions_swapped_name_the_first_of_them(trail, portfolio):
    third, fourth = trail[2], trail[3]
    _set_seq(third, 1000)
    _set_seq(fourth, 3)
    _set_seq(third, 4)
    assert [e.seq for e in AuditEntry.objects.filter(portfolio=portfolio).order_by("id")] == [1, 2, 4, 3, 5]
    result = audit_verify(portfolio=portfolio)
    assert not result.ok and result.first_bad.pk == third.pk
    assert "seq) is 4, its place in id order is 3" in result.problem


@pytest.mark.postgres
def test_a_duplicate_position_is_named_where_the_constraint_was_dropped(trail, portfolio):
    """Only the tables' owner can drop the guard; ``verify_audit`` still names the second claimant."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT audit_chain_position_unique")
    _set_seq(trail[3], 3)
    result = audit_verify()
    assert not result.ok and result.first_bad.pk == trail[3].pk
    assert "seq) is 3, its place in id order is 4" in result.problem


def _orphan_strategy(portfolio, actor) -> tuple[AuditEntry, int]:
    """A strategy with one audit row, then removed by raw SQL: nothing but the audit row pointed at it."""
    strategy = StrategyFactory(portfolio=portfolio, code="gone")
    with transaction.atomic():
        entry = audit_append(
            portfolio=portfolio,
            actor=actor,
            record=AuditRecord(kind="strategy_change", reason="added", strategy_id=strategy.pk),
        )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Strategy._meta.db_table} WHERE id = %s", [strategy.pk])
    return entry, strategy.pk


def test_a_row_whose_strategy_is_gone_is_named(trail, portfolio, other_portfolio, actor):
    entry, strategy_id = _orphan_strategy(portfolio, actor)
    assert AuditEntry.objects.filter(pk=entry.pk, strategy_id=strategy_id).exists()
    result = audit_verify()
    assert not result.ok and result.first_bad.pk == entry.pk
    assert f"its strategy {strategy_id} does not exist" in result.problem
    message = _refused()
    assert f"audit row {entry.pk} (portfolio {portfolio.pk}, strategy_change" in message
    assert f"its strategy {strategy_id} does not exist" in message
    assert "1 row points at a missing row" in message and "the chain of 8 rows is intact" in message
    assert "2 rows" in _verify("--portfolio", other_portfolio.slug)  # the other portfolio's rows point at real rows


def test_rows_whose_run_or_step_is_gone_are_counted_and_the_first_named(trail, portfolio, other_portfolio, actor):
    """Rows written with keys of rows that never existed (the database does not check them)."""
    with transaction.atomic():
        run_row = audit_append(portfolio=other_portfolio, actor=actor, kind="run_created", run_id=10**9)
        step_row = audit_append(portfolio=portfolio, actor=actor, kind="step_applied", run_id=None, step_id=7 * 10**8)
    result = audit_verify()
    assert not result.ok and result.first_bad.pk == run_row.pk
    assert f"its run {10**9} does not exist" in result.problem
    assert "2 rows point at missing rows" in _refused()

    result = audit_verify(portfolio=portfolio)
    assert not result.ok and result.first_bad.pk == step_row.pk
    assert f"its step {7 * 10**8} does not exist" in result.problem
    assert f"audit row {step_row.pk} " in _refused("--portfolio", portfolio.slug)


def test_the_chain_is_checked_before_the_keys(trail, portfolio, actor):
    """A broken chain is reported as before, whatever the keys."""
    _orphan_strategy(portfolio, actor)
    _set_seq(trail[1], 77)
    result = audit_verify()
    assert not result.ok and result.first_bad.pk == trail[1].pk and "seq" in result.problem


def test_an_intact_trail_with_every_key_in_place_passes(trail):
    assert "intact: 7 rows checked" in _verify()


# --- checkpoints: a rollback by the tables' owner (issue 21, item 15) ---------------------------------

HEADS = AuditChainHead._meta.db_table


def _roll_back_to(head: dict) -> None:
    """What the tables' owner can do: delete the rows after an old head and put the old, validly
    signed head back."""
    pid = head["portfolio_id"]
    _behind_the_triggers_back(f"DELETE FROM {TABLE} WHERE portfolio_id = %s AND seq > %s", [pid, head["count"]])
    _behind_the_triggers_back(
        f"UPDATE {HEADS} SET count = %s, last_hash = %s, signature = %s WHERE portfolio_id = %s",
        [head["count"], head["last_hash"], head["signature"], pid],
    )


def test_a_rolled_back_chain_passes_verification_but_not_the_checkpoint(trail, portfolio, actor, tmp_path):
    checkpoints = tmp_path / "checkpoints" / "audit.jsonl"
    old_head = AuditChainHead.objects.filter(portfolio=portfolio).values().get()
    assert "first checkpoint; 2 chain heads appended" in _verify("--checkpoint", str(checkpoints))
    assert checkpoints.stat().st_mode & 0o777 == 0o600
    fund_set(portfolio=portfolio, strategy="tech-a", amount="175", actor=actor, reason="six")
    assert "consistent with the checkpoint of" in _verify("--checkpoint", str(checkpoints))  # the chain grew: fine
    assert len(checkpoints.read_text().splitlines()) == 2

    _roll_back_to(old_head)  # row six gone, the five-row head (signed by the key) put back
    assert "audit trail intact: 7 rows checked" in _verify()  # what verify_audit alone cannot see
    message = _refused("--checkpoint", str(checkpoints))
    assert f"portfolio {portfolio.slug} (id {portfolio.pk})" in message
    assert "saw 6 rows" in message and "now has 5 (rolled back)" in message and "not appended" in message
    assert len(checkpoints.read_text().splitlines()) == 2


def test_a_chain_replaced_at_the_checkpointed_row_is_named(trail, portfolio, actor, tmp_path):
    checkpoints = tmp_path / "audit.jsonl"
    old_head = AuditChainHead.objects.filter(portfolio=portfolio).values().get()
    fund_set(portfolio=portfolio, strategy="tech-a", amount="175", actor=actor, reason="six")
    _verify("--checkpoint", str(checkpoints))
    _roll_back_to(old_head)
    fund_set(portfolio=portfolio, strategy="tech-b", amount="1", actor=actor, reason="another six")  # same length
    assert "audit trail intact" in _verify()
    message = _refused("--checkpoint", str(checkpoints))
    assert "saw row 6 with hash" in message and "(the chain was replaced since)" in message


def test_a_checkpoint_file_that_is_not_one_is_refused_naming_the_line(trail, tmp_path):
    checkpoints = tmp_path / "audit.jsonl"
    checkpoints.write_text('{"at": "x", "heads": {}}\nnot json\n')
    assert f"--checkpoint: {checkpoints}: line 2 is not a checkpoint" in _refused("--checkpoint", str(checkpoints))
    assert "leave out --portfolio" in _refused("--checkpoint", str(checkpoints), "--portfolio", "x")
