"""allocations/services/ingestion.py called directly: all rows or none, errors by line, upsert counts,
and the audit row written in the same transaction as the returns.

``manage.py import_returns`` (tests/allocations/management/test_import_returns.py) covers the
file's path through the command; these call the service with rows and text.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import numpy as np
import pytest

from allocations.errors import DomainError
from allocations.models import AuditEntry, StrategyReturn
from allocations.selectors.audit import audit_verify
from allocations.services.ingestion import (
    MAX_REPORTED_ERRORS,
    MAX_REPORTED_OVERWRITES,
    ImportSummary,
    Overwrite,
    ReturnRow,
    returns_import,
    returns_rows_from_text,
)
from tests.factories import StrategyFactory

DAY = dt.date(2024, 3, 4)


def stored() -> dict[tuple[str, dt.date], float]:
    return {(r.strategy.code, r.date): r.value for r in StrategyReturn.objects.select_related("strategy")}


def imports(portfolio):
    return AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.DATA_IMPORT)


def rows_of(records) -> list[ReturnRow]:
    """Rows as an API would pass them: line = position in the list, typed values."""
    return [ReturnRow(line, day, code, value) for line, (day, code, value) in enumerate(records, start=1)]


def test_rows_from_a_list_are_stored_exactly_and_summarised(portfolio, strategies, actor):
    rng = np.random.default_rng(8)
    records = [
        (DAY + dt.timedelta(days=d), code, float(rng.normal(0, 0.02)))
        for code in ("tech-a", "ener-a")
        for d in range(4)
    ]
    summary = returns_import(portfolio=portfolio, rows=rows_of(records), actor=actor, source="feed")
    assert summary == ImportSummary(
        rows=8, created=8, updated=0, strategies=2, first_date=DAY, last_date=DAY + dt.timedelta(days=3)
    )
    assert stored() == {(code, day): value for day, code, value in records}
    entry = imports(portfolio).get()
    assert entry.reason == "returns import from feed" and entry.actor == actor.user
    assert entry.payload == {
        "rows": 8,
        "created": 8,
        "updated": 0,
        "strategies": 2,
        "first_date": "2024-03-04",
        "last_date": "2024-03-07",
        "overwritten": 0,
    }
    assert audit_verify().ok


def test_a_second_import_replaces_known_days_and_counts_them(portfolio, strategies, actor):
    returns_import(
        portfolio=portfolio,
        rows=rows_of([(DAY, "tech-a", 0.01), (DAY, "tech-b", 0.02), (DAY + dt.timedelta(days=1), "tech-a", 0.03)]),
        actor=actor,
    )
    summary = returns_import(
        portfolio=portfolio,
        rows=rows_of(
            [
                (DAY, "tech-a", -0.01),  # known: replaced
                (DAY + dt.timedelta(days=1), "tech-a", 0.03),  # known, same value: counted as updated
                (DAY + dt.timedelta(days=1), "tech-b", 0.04),  # new
                (DAY + dt.timedelta(days=2), "ener-a", 0.05),  # new
            ]
        ),
        actor=actor,
    )
    assert (summary.created, summary.updated, summary.rows, summary.strategies) == (2, 2, 4, 3)
    assert stored() == {
        ("tech-a", DAY): -0.01,
        ("tech-b", DAY): 0.02,  # not in the second import: kept
        ("tech-a", DAY + dt.timedelta(days=1)): 0.03,
        ("tech-b", DAY + dt.timedelta(days=1)): 0.04,
        ("ener-a", DAY + dt.timedelta(days=2)): 0.05,
    }
    assert [e.payload["created"] for e in imports(portfolio).order_by("id")] == [3, 2]
    assert [e.payload["updated"] for e in imports(portfolio).order_by("id")] == [0, 2]


def test_a_known_day_outside_the_new_rows_is_not_counted_as_updated(portfolio, strategies, actor):
    """``updated`` counts the (strategy, date) pairs of this import that existed, not others in its date range."""
    returns_import(
        portfolio=portfolio,
        rows=rows_of([(DAY + dt.timedelta(days=1), "tech-b", 0.02)]),
        actor=actor,
    )
    summary = returns_import(
        portfolio=portfolio,
        rows=rows_of([(DAY, "tech-a", 0.01), (DAY + dt.timedelta(days=2), "tech-b", 0.03)]),
        actor=actor,
    )
    assert (summary.created, summary.updated) == (2, 0)


def test_bad_rows_reject_everything_and_each_is_cited_by_line(portfolio, other_portfolio, strategies, actor):
    StrategyFactory(portfolio=other_portfolio, code="theirs")
    text = "\n".join(
        [
            "date,strategy,return",
            "2024-03-04,tech-a,0.01",  # line 2: good
            "2024-03-04,theirs,0.01",  # line 3: another portfolio's strategy
            "2024-03-05,tech-a,-1",  # line 4: -100 %
            "",  # line 5: blank, skipped but counted
            "2024-02-30,tech-b,0.02",  # line 6: no such date
            "2024-03-04,tech-a,0.05",  # line 7: the same (strategy, date) as line 2
            "2024-03-06,ener-a,nan",  # line 8: not finite
            "2024-03-06,ener-a",  # line 9: two columns
            "2024-03-07,ener-a,0.01",  # line 10: good
        ]
    )
    rows = returns_rows_from_text(text)
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=rows, actor=actor)
    errors = err.value.errors
    assert [e.split(":", 1)[0] for e in errors] == ["line 3", "line 4", "line 6", "line 7", "line 8", "line 9"]
    assert "unknown strategy 'theirs'" in errors[0]
    assert "-100 %" in errors[1]
    assert "'2024-02-30' is not a date" in errors[2]
    assert "already given on line 2" in errors[3]
    assert "not finite" in errors[4]
    assert "expected 3 columns, got 2" in errors[5]
    assert err.value.field == "line 3"
    assert str(err.value).startswith("6 invalid row(s); nothing was imported. line 3:")
    assert StrategyReturn.objects.count() == 0 and not imports(portfolio).exists()


def test_one_row_with_several_problems_names_them_all(portfolio, strategies, actor):
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=[ReturnRow(14, "yesterday", "ghost", "lots")], actor=actor)
    assert err.value.errors == [
        "line 14: date 'yesterday' is not a date (YYYY-MM-DD); unknown strategy 'ghost'; return 'lots' is not a number"
    ]
    assert err.value.field == "line 14"


def test_errors_stop_after_the_reporting_limit(portfolio, strategies, actor):
    rows = [ReturnRow(k, DAY, "tech-a", "x") for k in range(1, 51)]
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert len(err.value.errors) == MAX_REPORTED_ERRORS
    assert err.value.errors[-1].startswith(f"line {MAX_REPORTED_ERRORS}:")
    # issue 21 item 17: every bad row is counted, not only the ones listed
    assert str(err.value).startswith(f"50 invalid row(s) (the first {MAX_REPORTED_ERRORS} listed); nothing was")


def test_one_bad_row_after_many_good_ones_writes_nothing(portfolio, strategies, actor):
    records = [(DAY + dt.timedelta(days=d), "tech-a", 0.001) for d in range(500)]
    rows = rows_of(records) + [ReturnRow(501, DAY, "tech-b", True)]  # a boolean is not a return
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert len(err.value.errors) == 1 and err.value.errors[0].startswith("line 501: ")
    assert StrategyReturn.objects.count() == 0


def test_no_rows_is_refused(portfolio, strategies, actor):
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=[], actor=actor)
    assert err.value.field == "rows"
    with pytest.raises(DomainError) as err:
        returns_rows_from_text("")
    assert err.value.field == "file"
    with pytest.raises(DomainError) as err:
        returns_rows_from_text("day,code,value\n2024-03-04,tech-a,0.1\n")
    assert err.value.field == "line 1"


def test_the_audit_row_is_written_in_the_same_transaction(portfolio, strategies, actor):
    """If the audit row cannot be written, the returns are not stored either."""
    rows = rows_of([(DAY, "tech-a", 0.01), (DAY, "tech-b", 0.02)])
    with mock.patch("allocations.services.ingestion.audit_append", side_effect=RuntimeError("audit down")):
        with pytest.raises(RuntimeError, match="audit down"):
            returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert StrategyReturn.objects.count() == 0 and not imports(portfolio).exists()
    returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert StrategyReturn.objects.count() == 2 and imports(portfolio).count() == 1


def test_a_replaced_value_rolls_back_with_the_audit(portfolio, strategies, actor):
    returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.01)]), actor=actor)
    with mock.patch("allocations.services.ingestion.audit_append", side_effect=RuntimeError("audit down")):
        with pytest.raises(RuntimeError):
            returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.5)]), actor=actor)
    assert stored() == {("tech-a", DAY): 0.01}


def test_a_line_with_too_few_columns_names_only_that_problem(portfolio, actor):
    """Found while writing these tests: a short CSV line also reported ``date None is not a date``."""
    StrategyFactory(portfolio=portfolio, code="tech-a")
    rows = returns_rows_from_text("date,strategy,return\n2024-03-04,tech-a\n")
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert err.value.errors == ["line 2: expected 3 columns, got 2 columns"]


def test_a_return_from_the_future_is_refused_naming_its_row(portfolio, actor):
    """Issue 8 item 7, as the API passes rows (the line is the row's position)."""
    StrategyFactory(portfolio=portfolio, code="tech-a")
    rows = rows_of([("2100-01-04", "tech-a", 0.01)])
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert "after today" in err.value.errors[0] and err.value.field.startswith("line")
    assert not StrategyReturn.objects.exists()


# Issue 21 item 17: outliers, overwrites, every error under its own line.


def test_a_return_beyond_the_bound_is_refused_naming_the_row_and_the_bound(portfolio, strategies, actor):
    """A daily return of 1.5 (+150 %) was stored silently: it is refused unless allowed."""
    rows = rows_of([(DAY, "tech-a", 0.01), (DAY, "tech-b", 1.5), (DAY, "ener-a", -0.51)])
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=rows, actor=actor)
    assert [e.split(":", 1)[0] for e in err.value.errors] == ["line 2", "line 3"]
    assert "return 1.5 is beyond the bound of ±0.5 (MAX_ABS_DAILY_RETURN)" in err.value.errors[0]
    assert "allow_outliers" in err.value.errors[0]
    assert StrategyReturn.objects.count() == 0 and not imports(portfolio).exists()


def test_the_bound_is_the_setting(portfolio, strategies, actor, settings):
    settings.MAX_ABS_DAILY_RETURN = 0.1
    with pytest.raises(DomainError, match=r"±0.1 \(MAX_ABS_DAILY_RETURN\)"):
        returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.2)]), actor=actor)
    settings.MAX_ABS_DAILY_RETURN = 2
    assert returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 1.5)]), actor=actor).rows == 1


def test_outliers_asked_for_are_loaded_and_the_audit_row_says_so(portfolio, strategies, actor):
    rows = rows_of([(DAY, "tech-a", 0.01), (DAY, "tech-b", 1.5), (DAY, "ener-a", -0.6)])
    summary = returns_import(portfolio=portfolio, rows=rows, actor=actor, allow_outliers=True)
    assert summary.outliers == 2 and stored()[("tech-b", DAY)] == 1.5
    entry = imports(portfolio).get()
    assert entry.payload["allow_outliers"] is True and entry.payload["outliers"] == 2
    assert audit_verify().ok


def test_allow_outliers_still_refuses_what_is_not_a_return(portfolio, strategies, actor):
    with pytest.raises(DomainError, match="-100 %"):
        returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", -1.0)]), actor=actor, allow_outliers=True)


def test_an_import_without_outliers_does_not_mention_them(portfolio, strategies, actor):
    returns_import(portfolio=portfolio, rows=rows_of([(DAY, "tech-a", 0.5)]), actor=actor)  # the bound itself
    assert "allow_outliers" not in imports(portfolio).get().payload


def test_an_overwrite_of_a_stored_value_says_which_and_how_many(portfolio, strategies, actor):
    """A second import replaced stored values silently (``updated`` counts equal values too)."""
    first = [(DAY, "tech-a", 0.01), (DAY, "tech-b", 0.02), (DAY + dt.timedelta(days=1), "tech-a", 0.03)]
    returns_import(portfolio=portfolio, rows=rows_of(first), actor=actor)
    second = [(DAY, "tech-a", 0.01), (DAY, "tech-b", -0.02), (DAY + dt.timedelta(days=1), "tech-a", 0.04)]
    summary = returns_import(portfolio=portfolio, rows=rows_of(second), actor=actor)
    assert (summary.updated, summary.overwritten) == (3, 2)
    assert summary.overwrites == (
        Overwrite(strategy="tech-b", date=DAY, old=0.02, new=-0.02),
        Overwrite(strategy="tech-a", date=DAY + dt.timedelta(days=1), old=0.03, new=0.04),
    )
    assert [e.payload["overwritten"] for e in imports(portfolio).order_by("id")] == [0, 2]
    again = returns_import(portfolio=portfolio, rows=rows_of(second), actor=actor)
    assert (again.overwritten, again.overwrites) == (0, ())


def test_the_overwrites_named_are_capped_not_counted(portfolio, strategies, actor):
    days = [DAY - dt.timedelta(days=d) for d in range(MAX_REPORTED_OVERWRITES + 5)]
    returns_import(portfolio=portfolio, rows=rows_of([(d, "tech-a", 0.01) for d in days]), actor=actor)
    summary = returns_import(portfolio=portfolio, rows=rows_of([(d, "tech-a", 0.02) for d in days]), actor=actor)
    assert summary.overwritten == MAX_REPORTED_OVERWRITES + 5
    assert len(summary.overwrites) == MAX_REPORTED_OVERWRITES


def test_each_bad_row_is_its_own_field_with_its_own_messages(portfolio, strategies, actor):
    """The API listed every message under the first bad line ("line 3: line 4: unknown strategy")."""
    text = "date,strategy,return\n2024-03-04,tech-a,0.01\n2024-03-04,ghost,0.01\n2024-03-04,spook,x\n"
    with pytest.raises(DomainError) as err:
        returns_import(portfolio=portfolio, rows=returns_rows_from_text(text), actor=actor)
    assert err.value.as_dict() == {
        "line 3": ["unknown strategy 'ghost'"],
        "line 4": ["unknown strategy 'spook'", "return 'x' is not a number"],
    }
