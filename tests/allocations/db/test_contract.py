"""Each operation of ``allocations.db``: its fast half (PostgreSQL) and its portable twin give the
answer written here, on the same rows. On SQLite the twins alone run; on PostgreSQL both.

Each case writes a small world with known values, runs one half inside a savepoint that is rolled
back (so both halves see the same rows and write into the same empty tables), and compares what it
answered or wrote with what the world says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone

from allocations import db
from allocations.audit_canonical import AuditRecord, chained_rows
from allocations.db import portable
from allocations.models import (
    AllocationLine,
    AllocationPolicy,
    AllocationRun,
    AuditEntry,
    Fund,
    ReturnsPanelSnapshot,
    StrategyReturn,
)
from allocations.panel_snapshot import PanelSnapshot, snapshot_decode, snapshot_encode
from tests.allocations.db.chain_support import chain_start
from tests.factories import PortfolioFactory, SectorFactory, StrategyFactory

pytestmark = pytest.mark.django_db


def halves():
    """The portable twin always; the fast half where it runs."""
    found = [pytest.param(portable, id="portable")]
    if connection.vendor == "postgresql":
        from allocations.db import postgresql

        found.append(pytest.param(postgresql, id="postgresql"))
    return found


class _RolledBack(Exception):
    pass


def rolled_back(work):
    """``work()``'s answer, everything it wrote undone."""
    answer = None
    try:
        with transaction.atomic():
            answer = work()
            raise _RolledBack
    except _RolledBack:
        pass
    return answer


@pytest.fixture
def world():
    portfolio = PortfolioFactory(slug="contract", total_equity=Decimal("1000000.00"), timezone="America/New_York")
    sector = SectorFactory(code="tech")
    strategies = [StrategyFactory(portfolio=portfolio, code=f"c-{i}", sector=sector) for i in range(3)]
    days = [dt.date(2026, 11, 23) + dt.timedelta(days=d) for d in range(5)]
    values = {
        (s.pk, day): (i + 1) * 0.001 * (k - 2) + 1e-17 * i
        for i, s in enumerate(strategies)
        for k, day in enumerate(days)
    }
    del values[(strategies[2].pk, days[0])]  # a strategy not yet live on the first day
    StrategyReturn.objects.bulk_create(StrategyReturn(strategy_id=s, date=d, value=v) for (s, d), v in values.items())
    amounts = {strategies[0].pk: Decimal("123456.78"), strategies[1].pk: Decimal("0.01")}
    Fund.objects.bulk_create(Fund(strategy_id=s, amount=a) for s, a in amounts.items())
    policy = AllocationPolicy.objects.create(portfolio=portfolio, version=1, method="equal_weight")
    run = AllocationRun.objects.create(
        portfolio=portfolio, policy=policy, method="equal_weight", inputs_digest="0" * 64, total_equity=Decimal("1")
    )
    return {
        "portfolio": portfolio,
        "strategies": strategies,
        "days": days,
        "values": values,
        "amounts": amounts,
        "run": run,
    }


def _line_columns(world, momentum):
    ids = [s.pk for s in world["strategies"]]
    return {
        "run": [world["run"].pk] * 3,
        "strategy": ids,
        "current_weight": [0.1, 0.2, 0.0],
        "base_weight": [0.3, 0.3, 0.4],
        "signal_weight": [0.3, 0.3, 0.4],
        "smoothed_weight": [0.3, 0.3, 0.4],
        "target_weight": [0.1 + 0.2, 1 / 3, 0.0],
        "target_amount": [Decimal("300000.00"), Decimal("333333.33"), Decimal("0.00")],
        "momentum_weight": momentum,
        "risk_contribution": [0.5, 0.5, 0.0],
        "binding_limit": ["", "strategy_cap", "tab\there"],
        "limit_excess": [0.0, 0.05, 0.0],
        "flags": [[], ["capped"], ["back\\slash", "new\nline"]],
    }


@pytest.mark.parametrize("half", halves())
def test_returns_rows_since(world, half):
    ids = [s.pk for s in world["strategies"]]
    for since in (None, world["days"][2]):
        strategy_ids, days, values = half.returns_rows_since(ids, since)
        got = {
            (int(s), dt.date.fromordinal(int(d))): float(v) for s, d, v in zip(strategy_ids, days, values, strict=True)
        }
        expected = {k: v for k, v in world["values"].items() if since is None or k[1] >= since}
        assert got == expected  # exactly: the doubles bit for bit
        assert strategy_ids.dtype == days.dtype == np.int64 and values.dtype == float
    empty = half.returns_rows_since([10**9], None)
    assert [a.size for a in empty] == [0, 0, 0] and empty[0].dtype == np.int64


def test_fund_amounts(world):
    """One implementation on every database (the packed PostgreSQL read was dropped: it no longer paid)."""
    got = db.fund_amounts(world["portfolio"].pk)
    assert got == world["amounts"] and list(got) == sorted(world["amounts"])
    assert all(type(a) is Decimal for a in got.values())
    assert db.fund_amounts(10**9) == {}


@pytest.mark.parametrize("half", halves())
def test_fund_amounts_update(world, half):
    a, b, _ = world["strategies"]
    now = timezone.now().replace(microsecond=0)

    def work():
        half.fund_amounts_update([(a.pk, Decimal("1234567890123.45")), (b.pk, Decimal("0.00"))], now)
        return dict(Fund.objects.values_list("strategy_id", "amount")), set(
            Fund.objects.values_list("updated_at", flat=True)
        )

    amounts, stamps = rolled_back(work)
    assert amounts == {a.pk: Decimal("1234567890123.45"), b.pk: Decimal("0.00")} and stamps == {now}


@pytest.mark.parametrize("half", halves())
def test_bulk_insert(world, half):
    c = world["strategies"][2]
    rows = [{"strategy_id": c.pk, "date": dt.date(2026, 12, 1), "value": -0.123456789012345678}]
    got = rolled_back(
        lambda: (
            half.bulk_insert(StrategyReturn, rows),
            list(StrategyReturn.objects.filter(date=dt.date(2026, 12, 1)).values("strategy_id", "date", "value")),
        )[1]
    )
    assert got == rows
    half.bulk_insert(StrategyReturn, [])  # nothing to write: no statement


@pytest.mark.parametrize("half", halves())
def test_allocation_lines_insert_and_momentum_of_run(world, half):
    momentum = [0.25, None, 1 / 3]
    columns = _line_columns(world, momentum)

    def work():
        half.allocation_lines_insert(columns)
        lines = list(AllocationLine.objects.filter(run=world["run"]).order_by("strategy_id").values())
        return lines, half.momentum_of_run(world["run"].pk)

    lines, (ids, weights) = rolled_back(work)
    for name in ("current_weight", "target_weight", "target_amount", "momentum_weight", "binding_limit", "flags"):
        assert [line[name] for line in lines] == columns[name], name
    kept = [(s, m) for s, m in zip(columns["strategy"], momentum, strict=True) if m is not None]
    assert sorted(zip(ids.tolist(), weights.tolist(), strict=True)) == kept
    empty_ids, empty_weights = half.momentum_of_run(world["run"].pk)  # the lines were rolled back
    assert empty_ids.size == empty_weights.size == 0 and empty_ids.dtype == np.int64


@pytest.mark.parametrize("half", halves())
def test_audit_rows_insert(world, half):
    portfolio, (a, b, _) = world["portfolio"], world["strategies"]
    now = timezone.now()
    records = [
        AuditRecord(
            kind=AuditEntry.Kind.FUND_CHANGE,
            reason="tab\tand \\",
            strategy_id=s.pk,
            old_amount=Decimal("1"),
            new_amount=Decimal(f"{k}.5"),
            total_capital=Decimal("10"),
            payload={"k": k, "é": "ü"},
        )
        for k, s in enumerate([a, b, a])
    ]

    def start():
        return chain_start(portfolio.pk, now=now, actor_label="system:contract")

    expected_rows, expected_last = chained_rows(records, start())

    def work():
        last = half.audit_rows_insert(records, start())
        return last, list(AuditEntry.objects.filter(portfolio=portfolio).order_by("id").values())

    last, stored = rolled_back(work)
    assert last == expected_last
    assert [r["seq"] for r in stored] == [1, 2, 3]
    for row, want in zip(stored, expected_rows, strict=True):
        for name in (
            "kind",
            "reason",
            "strategy_id",
            "old_amount",
            "new_amount",
            "payload",
            "prev_hash",
            "entry_hash",
            "actor_label",
        ):
            assert row[name] == want[name], name


@pytest.mark.parametrize("half", halves())
def test_row_lock(world, half):
    portfolio = world["portfolio"]
    with transaction.atomic():
        locked = half.row_lock(type(portfolio).objects.filter(pk=portfolio.pk), timeout_ms=1000)
    assert locked.pk == portfolio.pk and locked.slug == "contract"


@pytest.mark.parametrize("half", halves())
def test_returns_snapshot_store_and_get(world, half):
    portfolio = world["portfolio"]
    snapshot = PanelSnapshot(
        ids=np.array([s.pk for s in world["strategies"]], dtype=np.int64),
        days=np.array([d.toordinal() for d in world["days"][:2]], dtype=np.int64),
        values=np.array([[0.1, np.nan, -0.0], [5e-324, 1.0, 2.0]]),
    )
    if half is not portable:
        half.SNAPSHOTS._entries.clear()

    def work():
        half.returns_snapshot_store(portfolio.pk, snapshot_encode(snapshot), timezone.now())
        row = (
            ReturnsPanelSnapshot.objects.filter(portfolio=portfolio).values_list("strategy_ids", "days", "values").get()
        )
        by_portfolio = half.returns_snapshot_get(portfolio.pk, None)
        by_ids = half.returns_snapshot_get(None, snapshot.ids)
        return snapshot_decode(*row), by_portfolio, by_ids

    stored, by_portfolio, by_ids = rolled_back(work)
    for got in (stored, by_portfolio, by_ids):
        assert np.array_equal(got.ids, snapshot.ids) and np.array_equal(got.days, snapshot.days)
        assert got.values.tobytes() == snapshot.values.tobytes()  # bit for bit: NaN, -0.0, subnormals
    assert half.returns_snapshot_get(portfolio.pk, None) is None  # rolled back: none stored
    other = StrategyFactory(portfolio=PortfolioFactory(slug="other"), code="o-1", sector=world["strategies"][0].sector)
    assert half.returns_snapshot_get(None, np.array([world["strategies"][0].pk, other.pk])) is None  # two portfolios


@pytest.mark.parametrize("half", halves())
def test_fund_changes(world, half):
    from allocations.services.actors import Actor
    from allocations.services.funds import fund_set

    portfolio, (a, b, _) = world["portfolio"], world["strategies"]
    actor = Actor.system("contract")
    fund_set(portfolio=portfolio, strategy=a, amount="10", actor=actor)
    fund_set(portfolio=portfolio, strategy=b, amount="20.25", actor=actor)
    recorded = list(
        AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE)
        .order_by("seq")
        .values_list("recorded_at", "strategy_id", "new_amount")
    )
    zone = "America/New_York"
    with timezone.override(zone):
        days, ids, amounts = half.fund_changes(portfolio.pk, zone)
    assert ids.tolist() == [r[1] for r in recorded] and amounts.tolist() == [float(r[2]) for r in recorded]
    local_days = [
        timezone.localtime(r[0], timezone=__import__("zoneinfo").ZoneInfo(zone)).date().toordinal() for r in recorded
    ]
    assert days.tolist() == local_days


def test_only_the_seam_asks_which_database_it_is():
    """No ``connection.vendor``, raw COPY or packed-column SQL in the services and selectors."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "allocations"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        and path.parts[len(root.parts)] != "db"
        and any(word in path.read_text() for word in ("connection.vendor", "COPY ", "string_agg(", "psycopg"))
    ]
    assert offenders == []
