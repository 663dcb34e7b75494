"""``manage.py import_returns``: a good file lands exactly, a bad one changes nothing and cites the line."""

from __future__ import annotations

import csv
import datetime as dt
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from allocations.errors import DomainError
from allocations.models import AuditEntry, StrategyReturn
from allocations.services.actors import Actor
from allocations.services.ingestion import ReturnRow, returns_import, returns_rows_from_text

pytestmark = pytest.mark.django_db


def _good_rows(codes, days=5, seed=3):
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 1, 1)
    return [(start + dt.timedelta(days=d), code, float(rng.normal(0, 0.01))) for code in codes for d in range(days)]


def _write(tmp_path, rows, *, header="date,strategy,return", name="returns.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(header + "\n")
        for day, code, value in rows:
            handle.write(f"{day},{code},{value!r}\n" if isinstance(value, float) else f"{day},{code},{value}\n")
    return str(path)


def _stored():
    return {(r.strategy.code, r.date): r.value for r in StrategyReturn.objects.select_related("strategy")}


def _import(path, portfolio):
    out, err = StringIO(), StringIO()
    call_command("import_returns", path, portfolio=portfolio.slug, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_good_file_imports_the_files_values(tmp_path, portfolio, strategies):
    rows = _good_rows(strategies)
    out, _ = _import(_write(tmp_path, rows), portfolio)

    # Read the file back with the csv module, independently of the service's parser.
    with open(tmp_path / "returns.csv", newline="") as handle:
        expected = {
            (r["strategy"], dt.date.fromisoformat(r["date"])): float(r["return"]) for r in csv.DictReader(handle)
        }
    assert _stored() == expected
    assert len(expected) == 15
    assert "imported 15 returns for 3 strategies (15 new, 0 replaced)" in out
    row = AuditEntry.objects.get(portfolio=portfolio, kind=AuditEntry.Kind.DATA_IMPORT)
    assert row.payload["rows"] == 15 and row.payload["created"] == 15 and row.payload["updated"] == 0
    assert row.actor_label == "command:import_returns"


def test_reimporting_the_same_file_changes_nothing(tmp_path, portfolio, strategies):
    path = _write(tmp_path, _good_rows(strategies))
    _import(path, portfolio)
    before_values = _stored()
    before_ids = sorted(StrategyReturn.objects.values_list("id", flat=True))

    out, _ = _import(path, portfolio)

    assert _stored() == before_values
    assert sorted(StrategyReturn.objects.values_list("id", flat=True)) == before_ids
    assert "(0 new, 15 replaced)" in out


def test_a_new_value_for_a_known_day_replaces_it(tmp_path, portfolio, strategies):
    _import(_write(tmp_path, _good_rows(strategies)), portfolio)
    day = dt.date(2024, 1, 3)
    out, _ = _import(
        _write(tmp_path, [(day, "tech-a", 0.0425), (dt.date(2024, 2, 1), "tech-a", -0.01)], name="b.csv"),
        portfolio,
    )
    assert StrategyReturn.objects.get(strategy=strategies["tech-a"], date=day).value == 0.0425
    assert StrategyReturn.objects.count() == 16
    assert "(1 new, 1 replaced)" in out


BAD_CASES = [
    ("nan", "tech-b", "NaN", "not finite"),
    ("inf", "tech-b", "inf", "not finite"),
    ("minus-inf", "tech-b", "-inf", "not finite"),
    ("minus-one", "tech-b", "-1", "-100 %"),
    ("minus-one-half", "tech-b", "-1.5", "-100 %"),
    ("text", "tech-b", "abc", "not a number"),
    ("empty", "tech-b", "", "missing"),
    ("unknown-strategy", "nobody", "0.01", "unknown strategy"),
]


@pytest.mark.parametrize("label, code, raw, message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_a_bad_row_rejects_the_whole_file_citing_its_line(tmp_path, portfolio, strategies, label, code, raw, message):
    day = dt.date(2024, 1, 2)
    StrategyReturn.objects.create(strategy=strategies["tech-a"], date=day, value=0.005)
    before = _stored()
    audit_before = AuditEntry.objects.count()
    # Good rows first (one of them would overwrite the existing value), the bad row on line 4.
    rows = [
        (day, "tech-a", 0.9),
        (day, "ener-a", 0.02),
        (dt.date(2024, 1, 3), code, raw),
        (day, "tech-b", 0.03),
    ]
    path = _write(tmp_path, rows)

    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_returns", path, portfolio=portfolio.slug, stderr=err)

    assert "line 4" in err.getvalue()
    assert message in err.getvalue()
    assert "nothing was imported" in str(caught.value)
    assert _stored() == before
    assert StrategyReturn.objects.get(strategy=strategies["tech-a"], date=day).value == 0.005
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize("raw_date", ["2024-02-30", "2024-13-01", "01/02/2024", "yesterday", ""])
def test_a_bad_date_is_rejected_with_its_line(tmp_path, portfolio, strategies, raw_date):
    path = _write(
        tmp_path, [("2024-01-02", "tech-a", 0.01), ("2024-01-03", "tech-a", 0.01), (raw_date, "tech-a", 0.01)]
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_returns", path, portfolio=portfolio.slug, stderr=err)
    assert "line 4" in err.getvalue() and "not a date" in err.getvalue()
    assert StrategyReturn.objects.count() == 0


def test_a_duplicate_line_is_rejected_naming_both_lines(tmp_path, portfolio, strategies):
    path = _write(
        tmp_path,
        [("2024-01-02", "tech-a", 0.01), ("2024-01-03", "tech-a", 0.02), ("2024-01-02", "tech-a", 0.01)],
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_returns", path, portfolio=portfolio.slug, stderr=err)
    assert "line 4" in err.getvalue() and "line 2" in err.getvalue()
    assert StrategyReturn.objects.count() == 0


@pytest.mark.parametrize("header", ["date,strategy,value", "strategy,date,return", "date,strategy", ""])
def test_a_wrong_header_is_rejected(tmp_path, portfolio, strategies, header):
    path = _write(tmp_path, [("2024-01-02", "tech-a", 0.01)], header=header)
    with pytest.raises(CommandError) as caught:
        call_command("import_returns", path, portfolio=portfolio.slug, stderr=StringIO())
    # A CommandError (not a DomainError traceback) that points at the header.
    assert "line 1" in str(caught.value)
    assert StrategyReturn.objects.count() == 0


def test_an_empty_file_is_rejected(tmp_path, portfolio, strategies):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match="empty"):
        call_command("import_returns", str(path), portfolio=portfolio.slug, stderr=StringIO())
    assert StrategyReturn.objects.count() == 0


def test_every_bad_line_is_reported(tmp_path, portfolio, strategies):
    path = _write(
        tmp_path, [("2024-01-02", "tech-a", "nan"), ("2024-01-03", "tech-a", 0.01), ("2024-01-04", "x", 0.01)]
    )
    err = StringIO()
    with pytest.raises(CommandError, match="2 invalid row"):
        call_command("import_returns", path, portfolio=portfolio.slug, stderr=err)
    lines = err.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 4"]


def test_a_row_with_the_wrong_number_of_columns_is_rejected(tmp_path, portfolio, strategies):
    path = tmp_path / "cols.csv"
    path.write_text("date,strategy,return\n2024-01-02,tech-a,0.01\n2024-01-03,tech-a\n", encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_returns", str(path), portfolio=portfolio.slug, stderr=err)
    assert "line 3" in err.getvalue() and "3 columns" in err.getvalue()
    assert StrategyReturn.objects.count() == 0


def test_strategies_of_another_portfolio_are_unknown(tmp_path, portfolio, other_portfolio, strategies):
    path = _write(tmp_path, [("2024-01-02", "tech-a", 0.01)])
    with pytest.raises(CommandError):
        call_command("import_returns", path, portfolio=other_portfolio.slug, stderr=StringIO())
    assert StrategyReturn.objects.count() == 0


def test_missing_file_and_unknown_portfolio(tmp_path, portfolio):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_returns", str(tmp_path / "nope.csv"), portfolio=portfolio.slug)
    with pytest.raises(CommandError, match="unknown portfolio"):
        call_command("import_returns", _write(tmp_path, []), portfolio="nope")


def test_service_error_field_names_the_first_bad_line(portfolio, strategies):
    rows = returns_rows_from_text("date,strategy,return\n2024-01-02,tech-a,0.01\n2024-01-03,tech-a,-2\n")
    with pytest.raises(DomainError) as caught:
        returns_import(portfolio=portfolio, rows=rows, actor=Actor.command("test"))
    assert caught.value.field == "line 3"
    assert caught.value.errors == ["line 3: return '-2' is -100 % or worse (must be > -1)"]


def test_service_accepts_python_values_and_dates(portfolio, strategies):
    rows = [ReturnRow(1, dt.date(2024, 5, 1), "tech-a", 0.0125), ReturnRow(2, "2024-05-02", "tech-b", "-0.5")]
    summary = returns_import(portfolio=portfolio, rows=rows, actor=Actor.command("test"))
    assert (summary.rows, summary.created, summary.updated, summary.strategies) == (2, 2, 0, 2)
    assert (summary.first_date, summary.last_date) == (dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    assert _stored() == {("tech-a", dt.date(2024, 5, 1)): 0.0125, ("tech-b", dt.date(2024, 5, 2)): -0.5}
    with pytest.raises(DomainError, match="no rows"):
        returns_import(portfolio=portfolio, rows=[], actor=Actor.command("test"))


@pytest.mark.parametrize("raw_date", ["2100-01-04", "9999-12-31", "0001-01-01", "1969-12-31", "tomorrow"])
def test_a_date_in_the_future_or_before_the_floor_is_rejected_with_its_line(tmp_path, portfolio, strategies, raw_date):
    """Issue 8 item 7: returns dated 2100, 9999-12-31 or 0001-01-01 were accepted and became the latest data."""
    from allocations.selectors.portfolios import portfolio_today

    if raw_date == "tomorrow":
        raw_date = str(portfolio_today(portfolio) + dt.timedelta(days=1))
    path = _write(tmp_path, [("2024-01-02", "tech-a", 0.01), (raw_date, "tech-a", 0.01)])
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_returns", path, portfolio=portfolio.slug, stderr=err)
    assert "line 3" in err.getvalue() and raw_date in err.getvalue()
    assert StrategyReturn.objects.count() == 0


def test_today_in_the_portfolios_time_zone_is_accepted(tmp_path, portfolio, strategies):
    from allocations.selectors.portfolios import portfolio_today

    portfolio.timezone = "Pacific/Kiritimati"  # UTC+14: its today is often the UTC tomorrow
    portfolio.save(update_fields=["timezone"])
    today = portfolio_today(portfolio)
    call_command("import_returns", _write(tmp_path, [(str(today), "tech-a", 0.01)]), portfolio=portfolio.slug)
    assert StrategyReturn.objects.get().date == today


def test_an_outlier_is_refused_unless_the_flag_says_it_is_meant(tmp_path, portfolio, strategies):
    """Issue 21 item 17: +150 % in a day was loaded silently."""
    path = _write(tmp_path, [(dt.date(2024, 1, 2), "tech-a", 0.01), (dt.date(2024, 1, 2), "tech-b", 1.5)])
    with pytest.raises(CommandError):
        _import(path, portfolio)
    assert not StrategyReturn.objects.exists()
    out, err = StringIO(), StringIO()
    call_command("import_returns", path, portfolio=portfolio.slug, allow_outliers=True, stdout=out, stderr=err)
    assert "1 returns beyond MAX_ABS_DAILY_RETURN loaded" in out.getvalue()
    row = AuditEntry.objects.get(portfolio=portfolio, kind=AuditEntry.Kind.DATA_IMPORT)
    assert row.payload["allow_outliers"] is True and row.payload["outliers"] == 1


def test_an_outlier_names_its_line_and_the_bound(tmp_path, portfolio, strategies):
    path = _write(tmp_path, [(dt.date(2024, 1, 2), "tech-a", 0.01), (dt.date(2024, 1, 2), "tech-b", 1.5)])
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("import_returns", path, portfolio=portfolio.slug, stdout=out, stderr=err)
    assert "line 3: return 1.5 is beyond the bound of ±0.5 (MAX_ABS_DAILY_RETURN)" in err.getvalue()


def test_the_values_a_file_changes_are_listed(tmp_path, portfolio, strategies):
    day = dt.date(2024, 1, 3)
    _import(_write(tmp_path, [(day, "tech-a", 0.01), (day, "tech-b", 0.02)]), portfolio)
    out, _ = _import(_write(tmp_path, [(day, "tech-a", 0.0425), (day, "tech-b", 0.02)], name="b.csv"), portfolio)
    assert "1 stored values changed:\n  tech-a 2024-01-03: 0.01 -> 0.0425\n" in out
