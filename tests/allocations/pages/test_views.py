"""The dashboard's pages and controls through Django's test client: sign-in, the permission matrix
(a forged POST is refused and changes nothing), forms with the service's errors next to the field,
the preview-then-confirm rebalance, the approvals, the charts' JSON against the API's numbers."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from allocations import display
from allocations.models import AllocationPolicy, AllocationRun, AuditEntry, PolicyProposal, TransitionSchedule
from allocations.selectors.performance import portfolio_performance

from .conftest import pending_run

ROLES = ["admin", "risk", "risk2", "pm", "viewer", "integration"]


def client_for(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password="demo")
    return client


def state() -> tuple:
    """Everything a control could change."""
    return (
        AuditEntry.objects.count(),
        AllocationRun.objects.count(),
        AllocationPolicy.objects.count(),
        list(AllocationRun.objects.order_by("id").values_list("status", flat=True)),
        list(TransitionSchedule.objects.order_by("id").values_list("status", flat=True)),
    )


@pytest.mark.parametrize("username", ROLES)
def test_every_role_signs_in_at_accounts_login_and_sees_its_portfolios(demo, username):
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": "demo"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/").content.decode()
    assert "/portfolios/demo/" in page
    assert ("/portfolios/demo-b/" in page) == (username == "admin")  # the others are granted demo only
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_a_wrong_password_is_refused_on_the_form(demo):
    response = Client().post("/accounts/login/", {"username": "pm", "password": "nope"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/", "/portfolios/demo/", "/portfolios/demo/data/summary.json", "/portfolios/demo/runs/"]
)
def test_anonymous_visitors_are_sent_to_sign_in(demo, url):
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_portfolio_list_shows_equity_method_last_run_pending_and_schedule(demo):
    page = client_for("viewer").get("/").content.decode()
    run = AllocationRun.objects.filter(portfolio=demo).order_by("-created_at", "-id").first()
    assert "10,000,000.00 USD" in page
    assert AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first().method in page
    assert str(run.public_id) in page and run.status in page


def test_a_portfolio_not_granted_is_404_for_pages_data_and_controls(demo):
    client = client_for("risk")
    assert client.get("/portfolios/demo-b/").status_code == 404
    assert client.get("/portfolios/demo-b/data/allocation.json").status_code == 404
    before = state()
    assert client.post("/portfolios/demo-b/method/", {"method": "equal_weight"}).status_code == 404
    assert state() == before


@pytest.mark.parametrize(
    ("username", "controls"),
    [
        ("viewer", set()),
        ("pm", {"rebalance-form"}),
        ("integration", {"rebalance-form"}),
        ("risk", {"rebalance-form", "method-form"}),
    ],
)
def test_controls_shown_follow_the_role(demo, username, controls):
    page = client_for(username).get("/portfolios/demo/").content.decode()
    shown = set(re.findall(r'id="(rebalance-form|method-form|approve-form|reject-form)"', page))
    assert shown == controls
    assert ('id="controls"' in page) == bool(controls)


def _control_posts(demo, run, schedule):
    return [
        ("method", "/portfolios/demo/method/", {"method": "equal_weight"}),
        ("rebalance", "/portfolios/demo/rebalance/", {"allocation_method": "equal_weight", "confirm": "forged"}),
        ("approve", f"/portfolios/demo/runs/{run.public_id}/approve/", {"reason": "x"}),
        ("reject", f"/portfolios/demo/runs/{run.public_id}/reject/", {"reason": "x"}),
        ("cancel", f"/portfolios/demo/schedules/{schedule.pk}/cancel/", {"reason": "x"}),
    ]


@pytest.mark.parametrize(
    ("username", "refused"),
    [
        ("viewer", {"method", "rebalance", "approve", "reject", "cancel"}),
        ("pm", {"method", "approve", "reject", "cancel"}),
        ("integration", {"method", "approve", "reject", "cancel"}),
    ],
)
def test_a_forged_post_is_403_and_changes_nothing(demo, username, refused):
    users = get_user_model().objects
    run = pending_run(demo, users.get(username="risk2"))
    schedule = TransitionSchedule.objects.filter(portfolio=demo).order_by("-id").first()
    client = client_for(username)
    for name, url, data in _control_posts(demo, run, schedule):
        if name not in refused:
            continue
        before = state()
        assert client.post(url, data).status_code == 403, name
        assert state() == before, name


def test_preview_writes_nothing_then_confirm_runs_once(demo):
    client = client_for("pm")
    before = state()
    preview = client.post("/portfolios/demo/rebalance/", {"allocation_method": "equal_weight"})
    page = preview.content.decode()
    assert preview.status_code == 200 and "Rebalance preview" in page and 'id="preview-moves"' in page
    assert state() == before
    key = re.search(r'name="confirm" value="([0-9a-f]+)"', page).group(1)
    digest = re.search(r'name="inputs_digest" value="([0-9a-f]{64})"', page).group(1)
    form = {"allocation_method": "equal_weight", "force_rebalance": "", "confirm": key, "inputs_digest": digest}
    confirmed = client.post("/portfolios/demo/rebalance/", form)
    run = AllocationRun.objects.order_by("-id").first()
    assert confirmed.status_code == 302 and confirmed["Location"] == f"/portfolios/demo/runs/{run.public_id}/"
    assert run.trigger == "dashboard" and run.requested_by.username == "pm" and run.method == "equal_weight"
    assert client.post("/portfolios/demo/rebalance/", form)["Location"] == confirmed["Location"]  # a double submit
    assert AllocationRun.objects.count() == before[1] + 1


def test_a_service_error_is_shown_next_to_its_field(demo):
    client = client_for("risk")
    run = pending_run(demo, get_user_model().objects.get(username="pm"))
    before = state()
    response = client.post(f"/portfolios/demo/runs/{run.public_id}/reject/", {"reason": ""})
    assert response.status_code == 400
    assert re.search(
        r'data-field="reason">.*?class="errorlist">This field is required', response.content.decode(), re.S
    )
    schedule = TransitionSchedule.objects.filter(portfolio=demo).order_by("-id").first()
    response = client.post(f"/portfolios/demo/schedules/{schedule.pk}/cancel/", {"reason": " "})
    assert response.status_code == 400
    assert re.search(
        r'data-field="reason">.*?a reason is required to cancel a schedule', response.content.decode(), re.S
    )
    response = client.post("/portfolios/demo/method/", {"method": "astrology"})
    assert response.status_code == 400 and re.search(
        r'data-field="method">.*?class="errorlist">', response.content.decode(), re.S
    )
    assert state() == before


def test_four_eyes_the_requester_cannot_approve_a_second_officer_can(demo):
    users = get_user_model().objects
    run = pending_run(demo, users.get(username="risk"))
    response = client_for("risk").post(f"/portfolios/demo/runs/{run.public_id}/approve/", {"reason": "mine"})
    assert response.status_code == 403 and "four eyes" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "pending_approval"
    response = client_for("risk2").post(f"/portfolios/demo/runs/{run.public_id}/approve/", {"reason": "checked"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "applied" and run.decided_by.username == "risk2" and run.decision_reason == "checked"


def test_reject_and_cancel_and_method_from_the_page(demo):
    client = client_for("risk")
    run = pending_run(demo, get_user_model().objects.get(username="pm"))
    assert client.post(f"/portfolios/demo/runs/{run.public_id}/reject/", {"reason": "too much"}).status_code == 302
    run.refresh_from_db()
    assert run.status == "rejected" and run.decision_reason == "too much"
    version = AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first().version
    assert client.post("/portfolios/demo/method/", {"method": "risk_parity", "reason": "calmer"}).status_code == 302
    proposal = PolicyProposal.objects.get(portfolio=demo, status="pending_approval")
    url = f"/portfolios/demo/policy/proposals/{proposal.pk}/approve/"
    assert client_for("risk2").post(url, {"reason": "agreed"}).status_code == 302
    policy = AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first()
    assert (policy.version, policy.method) == (version + 1, "risk_parity")
    active = TransitionSchedule.objects.filter(portfolio=demo, status="active").first()
    if active is not None:
        assert client.post(f"/portfolios/demo/schedules/{active.pk}/cancel/", {"reason": "audit"}).status_code == 302
        active.refresh_from_db()
        assert active.status == "cancelled"


def test_the_charts_json_agrees_with_the_api(demo):
    client = client_for("viewer")
    data = {
        p: client.get(f"/portfolios/demo/data/{p}.json").json()
        for p in ("summary", "allocation", "history", "risk", "schedule")
    }
    api = portfolio_performance(portfolio=demo)
    history = data["history"]
    assert history["metrics"]["days"] == api["history"]["days"] > 0
    assert history["metrics"]["total_return"] == pytest.approx(api["history"]["total_return"], abs=1e-12)
    assert history["equity_curve"][-1] == pytest.approx(
        float(demo.total_equity) * (1 + api["history"]["total_return"]), abs=0.01
    )
    assert len(history["sector_exposure"]) == len(history["dates"]) and history["sector_cap"] == 0.3
    assert data["risk"]["risk"]["effective_number_of_strategies"] == pytest.approx(
        api["risk"]["effective_number_of_strategies"]
    )
    assert data["risk"]["risk"]["ex_ante_volatility"] == pytest.approx(api["risk"]["ex_ante_volatility"])
    assert len(data["allocation"]["strategies"]) == 12
    assert data["summary"]["version"] == AuditEntry.objects.filter(portfolio=demo).order_by("-id").first().pk
    assert data["schedule"]["steps"] and data["schedule"]["schedule"]["status"] in (
        "active",
        "completed",
        "superseded",
        "cancelled",
    )


def test_the_run_page_shows_every_stage_largest_moves_first(demo):
    run = AllocationRun.objects.filter(portfolio=demo, status="applied").order_by("-id").first()
    page = client_for("viewer").get(f"/portfolios/demo/runs/{run.public_id}/").content.decode()
    codes = re.findall(r'<tr data-strategy="([^"]+)">', page)
    moves = {
        line.strategy.code: abs(line.target_weight - line.current_weight)
        for line in run.lines.select_related("strategy")
    }
    assert codes == sorted(moves, key=lambda c: (-moves[c], c))
    first = run.explanation["strategies"][codes[0]]
    for stage in ("base", "after_signals", "after_smoothing", "after_caps", "final"):
        assert f'data-stage="{stage}" data-value="{first[stage]!r}">{display.percent(first[stage])}<' in page
    assert "run created" in page  # the trail


def test_the_demo_history_is_audited_and_feeds_the_performance_endpoint(demo):
    from allocations.demo import demo_seed
    from allocations.selectors.audit import audit_verify

    assert audit_verify().ok
    assert portfolio_performance(portfolio=demo)["history"]["days"] >= 5
    assert AllocationRun.objects.filter(portfolio=demo, trigger="schedule").count() == 6
    before = state()
    demo_seed(strategies=12, days=70, seed=3, history_days=6)
    assert state() == before


def _amounts_in_force_row_by_row(portfolio, ids, dates):
    """The rule read one fund-change row at a time (the oracle of the vectorised reading): a change
    that took effect on day d counts from the next return date after d; the last change wins."""
    import numpy as np
    from django.utils import timezone

    from allocations.models import AuditEntry
    from allocations.models.audit import audit_effective_time

    ordinals = [d.toordinal() for d in dates]
    amounts = np.zeros((len(dates), len(ids)))
    changes = (
        AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE, strategy_id__in=list(ids))
        .annotate(at=audit_effective_time())
        .order_by("seq")
        .values_list("at", "strategy_id", "new_amount")
    )
    for effective, strategy_id, new_amount in changes:
        day = timezone.localtime(effective).date().toordinal()
        first = sum(1 for o in ordinals if o <= day)
        amounts[first:, list(ids).index(strategy_id)] = float(new_amount or 0)
    return amounts


def test_weights_in_force_are_read_as_the_fund_changes_say(demo):
    """The vectorised reading of the fund-change rows (packed on PostgreSQL), which the dashboard and
    the performance API share, gives the row-by-row rule's amounts on every return date of the history."""
    import numpy as np

    from allocations.models import Strategy
    from allocations.selectors.panels import returns_panel
    from allocations.selectors.performance import amounts_in_force

    ids = np.array(sorted(Strategy.objects.filter(portfolio=demo).values_list("id", flat=True)))
    dates, _ = returns_panel(ids=ids, window=20)
    expected = _amounts_in_force_row_by_row(demo, ids, dates)
    assert expected.sum() > 0
    np.testing.assert_array_equal(amounts_in_force(demo, ids, dates), expected)


def test_choosing_the_method_is_a_proposal_a_second_officer_decides(demo):
    """Issue 21 items 5 and 6: one risk officer set the method at once; now it waits, shown on the
    dashboard, for another risk officer, who gives a reason (the proposer cannot approve it)."""
    current = AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first()
    other = "risk_parity" if current.method != "risk_parity" else "equal_weight"
    risk, risk2 = client_for("risk"), client_for("risk2")
    assert risk.post("/portfolios/demo/method/", {"method": other, "reason": ""}).status_code == 400
    assert risk.post("/portfolios/demo/method/", {"method": other, "reason": "calmer"}).status_code == 302
    assert AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first() == current
    proposal = PolicyProposal.objects.get(portfolio=demo, status="pending_approval")
    page = risk2.get("/portfolios/demo/").content.decode()
    assert f'data-proposal="{proposal.pk}"' in page and f"method → {other}" in page
    approve = f"/portfolios/demo/policy/proposals/{proposal.pk}/approve/"
    mine = risk.post(approve, {"reason": "mine"})
    assert mine.status_code == 403 and "four eyes" in mine.content.decode()
    assert risk2.post(approve, {"reason": ""}).status_code == 400
    proposal.refresh_from_db()
    assert proposal.status == "pending_approval"
    assert risk2.post(approve, {"reason": "agreed"}).status_code == 302
    policy = AllocationPolicy.objects.filter(portfolio=demo).order_by("-version").first()
    assert (policy.version, policy.method) == (current.version + 1, other)


def test_an_approval_from_the_page_needs_a_reason(demo):
    run = pending_run(demo, get_user_model().objects.get(username="pm"))
    response = client_for("risk2").post(f"/portfolios/demo/runs/{run.public_id}/approve/", {"reason": ""})
    assert response.status_code == 400
    run.refresh_from_db()
    assert run.status == "pending_approval"


def _preview_form(client) -> dict:
    """The confirm form of a preview of equal weights, as the page posts it."""
    page = client.post("/portfolios/demo/rebalance/", {"allocation_method": "equal_weight"}).content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert fields["inputs_digest"] and fields["confirm"]
    return fields


def test_a_confirm_after_the_data_changed_is_refused_and_offers_a_new_preview(demo):
    """Issue 21 item 7: the confirm ran on whatever the data was by then, not what was previewed."""
    from allocations.services.actors import Actor
    from allocations.services.funds import fund_adjust

    client = client_for("pm")
    form = _preview_form(client)
    fund_adjust(
        portfolio=demo,
        strategy=demo.strategies.first(),
        ratio=0.5,
        actor=Actor.of_user(get_user_model().objects.get(username="risk")),
    )
    before = state()
    response = client.post("/portfolios/demo/rebalance/", form)
    page = response.content.decode()
    assert response.status_code == 409 and "the data changed since the preview" in page
    assert not re.search(r'name="(confirm|inputs_digest)" value=', page)  # a new preview, not the same refusal
    assert state() == before
    forged = {**_preview_form(client), "allocation_method": "risk_parity"}  # the preview's method, not another
    assert client.post("/portfolios/demo/rebalance/", forged).status_code == 409
    no_digest = {k: v for k, v in _preview_form(client).items() if k != "inputs_digest"}
    assert client.post("/portfolios/demo/rebalance/", no_digest).status_code == 400
    assert state() == before


def test_current_against_target_draws_the_target_in_force_and_a_pending_run_apart(demo):
    """Issue 21 item 7: a run waiting for approval was drawn as the target."""
    in_force = AllocationRun.objects.filter(portfolio=demo, status="applied").order_by("-created_at", "-id").first()
    waiting = pending_run(demo, get_user_model().objects.get(username="risk2"))
    data = client_for("viewer").get("/portfolios/demo/data/allocation.json").json()
    assert data["target_run"]["allocation_id"] == str(in_force.public_id)
    assert data["pending_run"]["allocation_id"] == str(waiting.public_id)
    targets = dict(in_force.lines.values_list("strategy__code", "target_weight"))
    proposed = dict(waiting.lines.values_list("strategy__code", "target_weight"))
    assert targets != proposed
    for row in data["strategies"]:
        assert row["target"] == pytest.approx(targets[row["code"]]) and row["pending"] == pytest.approx(
            proposed[row["code"]]
        )
    risk = client_for("viewer").get("/portfolios/demo/data/risk.json").json()
    assert risk["run"]["allocation_id"] == str(in_force.public_id)


def test_the_run_pages_show_weights_as_percent_times_with_their_zone_statuses_in_words(demo):
    """Issue 21 item 21: the run pages showed raw fractions ("0.1410") where the dashboard showed
    percent, times without a zone, statuses as codes ("pending_approval")."""
    waiting = pending_run(demo, get_user_model().objects.get(username="risk2"))
    client = client_for("viewer")
    page = client.get(f"/portfolios/demo/runs/{waiting.public_id}/").content.decode()
    assert f"<dd>{display.percent(waiting.turnover)}</dd>" in page and f"{waiting.turnover:.4f}" not in page
    assert f"<dd>{display.when(waiting.created_at, demo.timezone)}</dd>" in page and " UTC</dd>" in page
    assert ">pending approval</span>" in page and ">pending_approval<" not in page
    runs = client.get("/portfolios/demo/runs/").content.decode()
    assert display.percent(waiting.turnover) in runs and f"{waiting.turnover:.3f}" not in runs
    board = client.get("/portfolios/demo/").content.decode()
    assert display.percent(waiting.turnover) in board and f"{waiting.turnover:.3f}" not in board
    assert 'id="equity-note"' in board  # the header's equity against the realised curve, explained


def test_the_preview_shows_percent_and_a_multi_step_rebalance_says_which_step_applied(demo):
    """Issue 21 item 21: "Rebalance applied." when step 1 of 5 had moved."""
    from allocations.services.actors import Actor
    from allocations.services.policies import policy_create_version

    risk = Actor.of_user(get_user_model().objects.get(username="risk"))
    policy_create_version(portfolio=demo, actor=risk, reason="test", changes={"approval_threshold": 2.0})
    client = client_for("pm")
    preview = client.post("/portfolios/demo/rebalance/", {"allocation_method": "equal_weight"}).content.decode()
    assert re.search(r'<td class="num">\d+\.\d\d %</td>', preview) and not re.search(r">0\.\d{6}<", preview)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', preview))
    confirmed = client.post("/portfolios/demo/rebalance/", fields, follow=True)
    run = AllocationRun.objects.order_by("-id").first()
    steps = run.schedule.steps.count()
    assert run.status == "applied" and steps > 1
    assert f"Rebalance: step 1 of {steps} applied." in confirmed.content.decode()


def test_the_approval_trail_shows_when_each_decision_took_effect_with_its_zone(demo):
    """The demo's lived history is written now with an earlier effective time: the trail showed the
    writing process's clock (today) beside a run made days ago."""
    run = AllocationRun.objects.filter(portfolio=demo, trigger="schedule").order_by("id").first()
    created = AuditEntry.objects.get(run=run, kind="run_created")
    assert created.effective_at is not None
    page = client_for("viewer").get(f"/portfolios/demo/runs/{run.public_id}/").content.decode()
    trail = page.split('id="trail"', 1)[1].split("</ol>", 1)[0]
    assert display.when(created.effective_at, demo.timezone) in trail


def test_an_engine_error_is_a_form_error_on_the_dashboard_as_it_is_a_400_in_the_api(demo, monkeypatch):
    """Issue 22 item 3: the page shows the engine's refusal beside the field it names, not a 500."""
    from allocations import engine
    from allocations.pages import views

    def refuse(**kwargs):
        raise engine.InvalidPolicyError("policy.method: unknown method 'x'", field="method")

    monkeypatch.setattr(views, "policy_set_method", refuse)
    response = client_for("risk").post("/portfolios/demo/method/", {"method": "risk_parity", "reason": "calmer"})
    assert response.status_code == 400
    assert "policy.method: unknown method" in response.content.decode()
