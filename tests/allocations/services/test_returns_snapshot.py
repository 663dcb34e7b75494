"""The returns snapshot (``ReturnsPanelSnapshot``) equals the return rows after every kind of ingestion,
the panel loader reads the same bits from it as from the rows, and a rebalance decides the same."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from allocations.errors import DomainError
from allocations.models import Portfolio, ReturnsPanelSnapshot, StrategyReturn
from allocations.selectors.panels import (
    returns_panel,
    returns_panel_from_rows,
    returns_snapshot_get,
    universe_load,
)
from allocations.services.ingestion import ReturnRow, returns_import, returns_rows_from_text
from allocations.services.returns_snapshot import returns_snapshot_check
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.strategies import strategy_create, strategy_retire
from tests.factories import StrategyFactory

DAY = dt.date(2024, 3, 4)


def rows_of(records) -> list[ReturnRow]:
    return [ReturnRow(line, day, code, value) for line, (day, code, value) in enumerate(records, start=1)]


def history(codes, days, *, seed: int, present: float = 0.85) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [
        (DAY + dt.timedelta(days=d), code, float(rng.normal(3e-4, 0.012)))
        for d in range(days)
        for code in codes
        if rng.random() < present
    ]


def assert_snapshot_equals_rows(portfolio) -> None:
    assert ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).exists()
    assert returns_snapshot_check(portfolio=portfolio, repair=False) == "equal"


def test_the_snapshot_equals_the_rows_after_each_kind_of_ingestion(portfolio, strategies, actor):
    returns_import(portfolio=portfolio, rows=rows_of(history(strategies, 30, seed=1)), actor=actor)
    assert_snapshot_equals_rows(portfolio)
    # new days appended
    later = [(DAY + dt.timedelta(days=30 + d), code, 0.001 * d) for d in range(3) for code in ("tech-a", "ener-a")]
    returns_import(portfolio=portfolio, rows=rows_of(later), actor=actor)
    assert_snapshot_equals_rows(portfolio)
    # corrections rewritten in place (and a day filled in the middle)
    fixes = [
        (DAY, "tech-a", 0.25),
        (DAY + dt.timedelta(days=5), "tech-b", -0.5),
        (DAY + dt.timedelta(days=31), "tech-b", 0.0),
    ]
    returns_import(portfolio=portfolio, rows=rows_of(fixes), actor=actor)
    assert_snapshot_equals_rows(portfolio)
    assert returns_snapshot_get(portfolio_id=portfolio.pk).values[0, 0] == 0.25
    # a new strategy, with a history older than the others'
    strategy_create(portfolio=portfolio, actor=actor, code="new-a", name="New", sector="energy")
    older = [(DAY - dt.timedelta(days=d), "new-a", 0.01) for d in range(1, 4)]
    returns_import(portfolio=portfolio, rows=rows_of(older), actor=actor)
    assert_snapshot_equals_rows(portfolio)
    # a retired strategy keeps its column (the rows stay); the universe leaves it out
    strategy_retire(strategy=strategies["tech-b"], actor=actor, reason="closed")
    returns_import(portfolio=portfolio, rows=rows_of([(DAY + dt.timedelta(days=40), "tech-a", 0.02)]), actor=actor)
    assert_snapshot_equals_rows(portfolio)
    # a CSV with a bad row is rolled back: rows and snapshot as they were
    before = ReturnsPanelSnapshot.objects.get(portfolio=portfolio).values
    text = "date,strategy,return\n2024-05-01,tech-a,0.01\n2024-05-02,tech-a,oops\n"
    with pytest.raises(DomainError):
        returns_import(portfolio=portfolio, rows=returns_rows_from_text(text), actor=actor)
    assert bytes(ReturnsPanelSnapshot.objects.get(portfolio=portfolio).values) == bytes(before)
    assert_snapshot_equals_rows(portfolio)


def test_a_failed_import_rolls_the_snapshot_back(portfolio, strategies, actor, monkeypatch):
    returns_import(portfolio=portfolio, rows=rows_of(history(strategies, 10, seed=2)), actor=actor)
    before = bytes(ReturnsPanelSnapshot.objects.get(portfolio=portfolio).values)
    monkeypatch.setattr("allocations.services.ingestion.audit_append", lambda **kw: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.3)]), actor=actor)
    assert bytes(ReturnsPanelSnapshot.objects.get(portfolio=portfolio).values) == before
    assert_snapshot_equals_rows(portfolio)


def test_a_write_outside_the_ingestion_service_drops_the_snapshot(portfolio, strategies, actor):
    returns_import(portfolio=portfolio, rows=rows_of(history(strategies, 10, seed=3)), actor=actor)
    ids = np.array(sorted(s.pk for s in strategies.values()))
    StrategyReturn.objects.create(strategy=strategies["ener-a"], date=DAY + dt.timedelta(days=20), value=0.5)
    assert not ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).exists()
    dates, panel = returns_panel(ids=ids)  # read from the rows now
    assert dates[-1] == DAY + dt.timedelta(days=20) and panel[-1, list(ids).index(strategies["ener-a"].pk)] == 0.5
    returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.1)]), actor=actor)  # rebuilt from the rows
    assert_snapshot_equals_rows(portfolio)
    StrategyReturn.objects.filter(strategy=strategies["tech-a"], date=DAY).update(value=0.2)
    assert not ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).exists()
    returns_snapshot_check(portfolio=portfolio)
    StrategyReturn.objects.filter(strategy=strategies["tech-a"]).delete()
    assert not ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).exists()


@pytest.mark.parametrize("window, since", [(None, None), (5, None), (200, None), (None, DAY + dt.timedelta(days=7))])
def test_the_loader_reads_the_same_bits_from_the_snapshot_as_from_the_rows(
    portfolio, other_portfolio, strategies, actor, window, since
):
    returns_import(portfolio=portfolio, rows=rows_of(history(strategies, 25, seed=4, present=0.6)), actor=actor)
    ids = np.array(sorted(s.pk for s in strategies.values()))
    idle = StrategyFactory(portfolio=portfolio, code="idle")  # no returns: an all-NaN column
    for chosen in (ids, ids[1:], np.sort(np.append(ids[:2], idle.pk))):
        expected = returns_panel_from_rows(ids=chosen, window=window, since=since, today=DAY + dt.timedelta(days=30))
        for portfolio_id in (None, portfolio.pk):
            got = returns_panel(ids=chosen, window=window, since=since, portfolio_id=portfolio_id)
            assert got[0] == expected[0]
            assert got[1].tobytes() == expected[1].tobytes() and got[1].flags.writeable
    # ids of two portfolios: no one snapshot holds them, so the rows answer
    foreign = StrategyFactory(portfolio=other_portfolio, code="far")
    StrategyReturn.objects.create(strategy=foreign, date=DAY, value=0.3)
    mixed = np.sort(np.append(ids, foreign.pk))
    assert returns_panel(ids=mixed)[1].tobytes() == returns_panel_from_rows(ids=mixed)[1].tobytes()


def test_a_rebalance_decides_the_same_from_the_snapshot_and_from_the_rows(demo, users):
    from allocations.services.actors import Actor

    actor = Actor.of_user(users["risk"])
    assert returns_snapshot_check(portfolio=demo, repair=False) == "equal"  # seed_demo keeps it as ingestion does
    universe = universe_load(portfolio=demo)
    assert universe.portfolio_id == demo.pk
    request = RebalanceRequest(dry_run=True, allocation_method="hybrid")
    from_snapshot = allocation_run_create(portfolio=demo, actor=actor, request=request)
    ReturnsPanelSnapshot.objects.filter(portfolio=demo).delete()
    from_rows = allocation_run_create(portfolio=demo, actor=actor, request=request)
    assert from_snapshot.target_allocation == from_rows.target_allocation
    assert from_snapshot.transition_schedule == from_rows.transition_schedule
    assert from_snapshot.explanation["inputs_digest"] == from_rows.explanation["inputs_digest"]


def test_the_command_rebuilds_a_snapshot_that_differs_from_the_rows(portfolio, strategies, actor):
    returns_import(portfolio=portfolio, rows=rows_of(history(strategies, 10, seed=5)), actor=actor)
    stored = ReturnsPanelSnapshot.objects.get(portfolio=portfolio)
    values = np.frombuffer(bytes(stored.values)).copy()
    values[3] += 1e-12
    ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).update(values=values.tobytes())
    with pytest.raises(CommandError, match="alpha"):
        call_command("returns_snapshot", "--check", stdout=StringIO())
    out = StringIO()
    call_command("returns_snapshot", "--portfolio", "alpha", stdout=out)
    assert "portfolio alpha: snapshot differs, rebuilt from the rows" in out.getvalue()
    assert_snapshot_equals_rows(portfolio)
    out = StringIO()
    call_command("returns_snapshot", "--check", stdout=out)
    assert "portfolio alpha: snapshot equal" in out.getvalue()
    with pytest.raises(CommandError, match="unknown portfolio"):
        call_command("returns_snapshot", "--portfolio", "nope", stdout=StringIO())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs two connections (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_a_reader_never_sees_a_half_written_snapshot():
    """While an import holds its transaction open, readers see the old rows' snapshot; after, the new one."""
    from allocations.services.actors import Actor
    from tests.factories import PortfolioFactory, SectorFactory

    portfolio = PortfolioFactory(slug="concurrent")
    sector = SectorFactory(code="technology")
    codes = [f"s-{i}" for i in range(20)]
    ids = np.array(sorted(StrategyFactory(portfolio=portfolio, code=c, sector=sector).pk for c in codes))
    actor = Actor.command("test")
    returns_import(portfolio=portfolio, rows=rows_of(history(codes, 30, seed=6)), actor=actor)
    old = returns_panel(ids=ids, portfolio_id=portfolio.pk)
    written, release = threading.Event(), threading.Event()
    import allocations.services.ingestion as ingestion

    merge = ingestion.returns_snapshot_merge

    def slow_merge(**kwargs):
        result = merge(**kwargs)
        written.set()
        release.wait(10)
        return result

    errors = []

    def importer():
        try:
            more = [(DAY + dt.timedelta(days=30), c, 0.05) for c in codes] + [(DAY, codes[0], 0.4)]
            with transaction.atomic():
                ingestion.returns_import(
                    portfolio=Portfolio.objects.get(pk=portfolio.pk), rows=rows_of(more), actor=actor
                )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    ingestion.returns_snapshot_merge = slow_merge
    try:
        thread = threading.Thread(target=importer)
        thread.start()
        assert written.wait(10)
        during = returns_panel(ids=ids, portfolio_id=portfolio.pk)
        assert during[0] == old[0] and during[1].tobytes() == old[1].tobytes()
        release.set()
        thread.join(10)
    finally:
        ingestion.returns_snapshot_merge = merge
        release.set()
    assert not errors
    after = returns_panel(ids=ids, portfolio_id=portfolio.pk)
    assert after[0][-1] == DAY + dt.timedelta(days=30) and after[1][0, 0] == 0.4
    assert returns_snapshot_check(portfolio=portfolio, repair=False) == "equal"


@pytest.mark.postgres
def test_a_process_keeps_a_snapshot_until_its_row_changes(portfolio, strategies, actor):
    """The loader answers the snapshot it already holds while the row's version (xmin, updated_at) is
    the same, and fetches again after any write of the row, by the services or by hand."""
    returns_import(portfolio=portfolio, rows=rows_of(history(strategies, 20, seed=5)), actor=actor)
    first = returns_snapshot_get(portfolio_id=portfolio.pk)
    assert returns_snapshot_get(portfolio_id=portfolio.pk) is first  # unchanged: not fetched again
    with pytest.raises(ValueError):
        first.values[0, 0] = 1.0  # kept arrays are read-only
    returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.25)]), actor=actor)
    second = returns_snapshot_get(portfolio_id=portfolio.pk)
    assert second is not first and second.values[0, 0] == 0.25
    table = ReturnsPanelSnapshot._meta.db_table
    changed = second.values.copy()
    changed[0, 0] = 0.75
    with connection.cursor() as cursor:  # the same updated_at: the row's xmin still changes
        cursor.execute(f'UPDATE {table} SET "values" = %s WHERE portfolio_id = %s', [changed.tobytes(), portfolio.pk])
    assert returns_snapshot_get(portfolio_id=portfolio.pk).values[0, 0] == 0.75
    ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).delete()
    assert returns_snapshot_get(portfolio_id=portfolio.pk) is None
