"""The lean rebalance answer (a summary of the explanation by default, ``?explain=full`` inline) and
``GET .../runs/{id}/explanation`` (paginated, filterable by strategy and sector)."""

from __future__ import annotations

from allocations.models import AllocationRun, Strategy
from tests.allocations.demo_support import set_policy

REBALANCE = "/api/v1/portfolios/demo/allocation/rebalance"
CONTRACT = {"allocation_id", "dry_run", "status", "current_allocation", "target_allocation", "transition_schedule"}


def explanation_url(run_id, slug="demo") -> str:
    return f"/api/v1/portfolios/{slug}/runs/{run_id}/explanation"


def test_the_answer_carries_a_summary_by_default_and_everything_on_request(client_as, demo):
    set_policy(demo, approval_threshold=2.0)
    lean = client_as("pm").post(REBALANCE, {"allocation_method": "risk_parity"}, format="json")
    assert lean.status_code == 201, lean.content
    body = lean.json()
    assert CONTRACT | {"explanation"} == set(body)
    assert "strategies" not in body["explanation"]
    assert body["explanation"]["strategies_explained"] == len(body["target_allocation"]) == 12
    assert {"method", "inputs_digest", "equity", "phase_timings_ms"} <= set(body["explanation"])
    full = client_as("pm").post(REBALANCE + "?explain=full", {"allocation_method": "risk_parity"}, format="json")
    assert full.status_code == 201
    rows = full.json()["explanation"]["strategies"]
    assert set(rows) == set(full.json()["target_allocation"])
    assert len(full.content) > len(lean.content) + 12 * 150  # the rows are what the summary leaves out
    dry = client_as("pm").post(REBALANCE + "?explain=full", {"dry_run": True}, format="json").json()
    assert dry["dry_run"] and len(dry["explanation"]["strategies"]) == 12
    assert "strategies" not in client_as("pm").post(REBALANCE, {"dry_run": True}, format="json").json()["explanation"]


def test_an_unknown_explain_value_is_a_400_and_nothing_runs(client_as, demo):
    response = client_as("pm").post(REBALANCE + "?explain=everything", {}, format="json")
    assert response.status_code == 400 and "explain" in response.content.decode()
    assert not AllocationRun.objects.exists()


def test_the_explanation_of_a_run_a_page_at_a_time(client_as, demo, runs):
    run = runs["applied"]
    url = explanation_url(run.public_id)
    first = client_as("viewer").get(url, {"limit": 5})
    assert first.status_code == 200, first.content
    page = first.json()
    assert page["count"] == 12 and len(page["results"]) == 5 and page["next"] and page["previous"] is None
    rest = client_as("viewer").get(url, {"limit": 5, "offset": 5}).json()["results"]
    rest += client_as("viewer").get(url, {"limit": 5, "offset": 10}).json()["results"]
    codes = [row["strategy"] for row in page["results"] + rest]
    assert codes == sorted(run.explanation["strategies"])
    row = page["results"][0]
    stored = run.explanation["strategies"][row["strategy"]]
    for key in ("sector", "base", "after_signals", "after_smoothing", "after_caps", "final", "binding_limit", "flags"):
        assert row[key] == stored[key] or abs(row[key] - stored[key]) < 1e-12, key
    target = dict(run.lines.values_list("strategy__code", "target_weight"))
    assert all(abs(r["final"] - target[r["strategy"]]) < 1e-12 for r in page["results"] + rest)


def test_the_explanation_filters_by_strategy_and_sector(client_as, demo, runs):
    url = explanation_url(runs["applied"].public_id)
    strategies = list(Strategy.objects.filter(portfolio=demo).order_by("code"))
    picked = [strategies[0].code, strategies[3].code]
    by_code = client_as("viewer").get(f"{url}?strategy={picked[0]}&strategy={picked[1]},nope").json()
    assert [r["strategy"] for r in by_code["results"]] == picked and by_code["count"] == 2
    sector = strategies[0].sector.code
    in_sector = sorted(s.code for s in strategies if s.sector.code == sector)
    by_sector = client_as("viewer").get(url, {"sector": sector}).json()
    assert [r["strategy"] for r in by_sector["results"]] == in_sector
    assert {r["sector"] for r in by_sector["results"]} == {sector}
    both = client_as("viewer").get(url, {"sector": sector, "strategy": picked[1]}).json()
    assert both["count"] == (1 if picked[1] in in_sector else 0)


def test_the_explanation_is_a_404_for_another_portfolio_or_an_unknown_run(client_as, demo, demo_b, runs):
    run = runs["applied"]
    assert client_as("admin").get(explanation_url(run.public_id, slug="demo-b")).status_code == 404
    assert client_as("viewer").get(explanation_url("not-a-uuid")).status_code == 404
    assert client_as(None).get(explanation_url(run.public_id)).status_code in (401, 403)
    assert client_as("viewer").get(explanation_url(run.public_id) + "/").status_code == 200
