"""Who may call what: every role against every endpoint and method, and portfolio A asking for B.

Each row of the matrix runs every role's request inside a savepoint that is rolled back, so the
roles see the same state (a strategy one role creates does not exist for the next).
"""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts import roles

from .conftest import ROLES, USERNAME

VIEW, INGEST, REBALANCE, MANAGE, APPROVE = roles.VIEW, roles.INGEST, roles.REBALANCE, roles.MANAGE_POLICY, roles.APPROVE
GRANTED = {
    "viewer": {VIEW},
    "portfolio_manager": {VIEW, INGEST, REBALANCE},
    "risk_officer": {VIEW, INGEST, REBALANCE, MANAGE, APPROVE},
    "integration": {VIEW, INGEST, REBALANCE},
    "superuser": {VIEW, INGEST, REBALANCE, MANAGE, APPROVE},
}
P = "/api/v1/portfolios/{slug}"
RETURN_ROW = {"date": "2020-01-02", "strategy": "tech-0001", "return": 0.01}

# (method, path, body, permission needed, status when allowed)
ENDPOINTS = [
    ("get", P + "/", None, VIEW, 200),
    ("get", P + "/allocation/current", None, VIEW, 200),
    ("get", P + "/allocation/current/", None, VIEW, 200),
    ("post", P + "/allocation/rebalance", {"dry_run": True}, REBALANCE, 200),
    ("post", P + "/allocation/rebalance", {"allocation_method": "equal_weight"}, REBALANCE, 201),
    ("get", P + "/allocation/performance", None, VIEW, 200),
    ("get", P + "/allocation/methods", None, VIEW, 200),
    ("put", P + "/allocation/method/equal_weight", {}, MANAGE, 202),  # a policy proposal
    ("get", P + "/strategies/", None, VIEW, 200),
    ("post", P + "/strategies/", {"code": "new-1", "name": "New", "sector": "energy"}, MANAGE, 201),
    ("get", P + "/strategies/tech-0001/", None, VIEW, 200),
    ("patch", P + "/strategies/tech-0001/", {"name": "Renamed"}, MANAGE, 200),
    ("post", P + "/strategies/tech-0001/retire/", {"reason": "closed"}, MANAGE, 200),
    ("get", P + "/returns/", None, VIEW, 200),
    ("post", P + "/returns/", {"returns": [RETURN_ROW]}, INGEST, 201),
    ("get", P + "/signals/", None, VIEW, 200),
    ("post", P + "/signals/", {"sector": "energy", "action": "SELL", "confidence": 0.5}, INGEST, 201),
    ("get", P + "/runs/", None, VIEW, 200),
    ("get", P + "/runs/{pending}/", None, VIEW, 200),
    ("post", P + "/runs/{pending}/approve/", {"reason": "fine"}, APPROVE, 200),
    ("post", P + "/runs/{pending}/reject/", {"reason": "too much turnover"}, APPROVE, 200),
    ("get", P + "/schedules/", None, VIEW, 200),
    ("get", P + "/schedules/{schedule}/", None, VIEW, 200),
    ("post", P + "/schedules/{schedule}/cancel/", {"reason": "stop"}, APPROVE, 200),
    ("get", P + "/policy/", None, VIEW, 200),
    ("put", P + "/policy/", {"max_total_risk": 0.7}, MANAGE, 200),
    ("patch", P + "/policy/", {"lookback_period": 20, "reason": "shorter"}, MANAGE, 202),  # a proposal
    ("get", P + "/policy/proposals/", None, VIEW, 200),
    ("post", P + "/policy/proposals/", {"max_total_risk": 0.7, "reason": "calmer"}, MANAGE, 201),
    ("get", P + "/equity/", None, VIEW, 200),
    ("post", P + "/equity/", {"total_equity": "10500000.00", "reason": "inflow"}, MANAGE, 201),
    ("get", P + "/audit/", None, VIEW, 200),
    ("get", P + "/audit/?format=csv", None, VIEW, 200),
    ("get", P + "/audit/export.csv", None, VIEW, 200),
]
IDS = [f"{method.upper()} {path.removeprefix(P)}" for method, path, *_ in ENDPOINTS]


def expected_status(role: str, perm: str, allowed: int) -> int:
    if role == "anonymous":
        return 401
    return allowed if perm in GRANTED[role] else 403


def call(client, method, path, body):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


def url(path: str, slug: str, runs) -> str:
    return path.format(slug=slug, pending=runs["pending"].public_id, schedule=runs["schedule"].pk)


@pytest.mark.parametrize(("method", "path", "body", "perm", "allowed"), ENDPOINTS, ids=IDS)
def test_role_matrix(client_as, runs, method, path, body, perm, allowed):
    actual = {}
    for role in ROLES:
        with transaction.atomic():
            response = call(client_as(USERNAME.get(role)), method, url(path, "demo", runs), body)
            actual[role] = response.status_code
            transaction.set_rollback(True)
    expected = {role: expected_status(role, perm, allowed) for role in ROLES}
    assert actual == expected


def test_a_user_of_demo_gets_404_for_every_endpoint_of_demo_b(client_as, runs, demo_b):
    not_404 = []
    for method, path, body, _perm, _allowed in ENDPOINTS:
        for username in ("viewer", "pm", "risk", "integration"):
            with transaction.atomic():
                response = call(client_as(username), method, url(path, "demo-b", runs), body)
                transaction.set_rollback(True)
            if response.status_code != 404:
                not_404.append((username, method, path, response.status_code))
    assert not_404 == []


def test_a_missing_portfolio_looks_like_a_forbidden_one(client_as, demo):
    for slug in ("demo-b", "no-such-portfolio"):
        assert client_as("pm").get(f"/api/v1/portfolios/{slug}/").status_code == 404


def test_portfolio_list_shows_only_granted_portfolios(client_as, demo_b):
    slugs = lambda user: [p["slug"] for p in client_as(user).get("/api/v1/portfolios/").json()["results"]]  # noqa: E731
    assert slugs("pm") == ["demo"]
    assert slugs("viewer") == ["demo"]
    assert slugs("admin") == ["demo", "demo-b"]
    pm_view = client_as("pm").get("/api/v1/portfolios/").json()["results"][0]
    assert set(pm_view["permissions"]) == {VIEW, INGEST, REBALANCE}


def test_global_group_permissions_do_not_open_other_portfolios(client_as, users, demo_b):
    """risk officers hold the model permission allocations.view_portfolio for the admin; it grants no portfolio."""
    assert users["risk"].has_perm("allocations.view_portfolio")
    assert client_as("risk").get("/api/v1/portfolios/demo-b/policy/").status_code == 404


def test_a_run_of_another_portfolio_is_404_under_mine(client_as, runs, demo_b, users):
    from allocations.services.actors import Actor
    from allocations.services.runs import RebalanceRequest, allocation_run_create

    other = allocation_run_create(portfolio=demo_b, actor=Actor.of_user(users["admin"]), request=RebalanceRequest()).run
    assert client_as("admin").get(f"/api/v1/portfolios/demo-b/runs/{other.public_id}/").status_code == 200
    assert client_as("admin").get(f"/api/v1/portfolios/demo/runs/{other.public_id}/").status_code == 404
    assert client_as("pm").get("/api/v1/portfolios/demo/runs/not-a-uuid/").status_code == 404
