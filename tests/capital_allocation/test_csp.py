"""The Content-Security-Policy (issue 21, item 20): no page had one. Every page now answers with a
policy that runs scripts and applies styles from this origin only, no inline script, and its
templates carry no inline script, event handler or style attribute the policy would refuse."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from allocations.models import AllocationRun
from tests.allocations.pages.conftest import seed_small

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


def _signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password="demo")
    return client


def _pages():
    seed_small()
    run = AllocationRun.objects.filter(portfolio__slug="demo").order_by("-id").first()
    viewer, admin = _signed_in("viewer"), _signed_in("admin")
    return {
        "login": Client().get("/accounts/login/"),
        "portfolios": viewer.get("/"),
        "dashboard": viewer.get("/portfolios/demo/"),
        "run": viewer.get(f"/portfolios/demo/runs/{run.public_id}/"),
        "runs": viewer.get("/portfolios/demo/runs/"),
        "data": viewer.get("/portfolios/demo/data/summary.json"),
        "admin": admin.get("/admin/"),
        "admin runs": admin.get("/admin/allocations/allocationrun/"),
        "admin run": admin.get(f"/admin/allocations/allocationrun/{run.pk}/change/"),
        "admin portfolio": admin.get(f"/admin/allocations/portfolio/{run.portfolio_id}/change/"),
    }


def test_every_page_has_a_policy_of_self_only_scripts_and_styles():
    for name, response in _pages().items():
        assert response.status_code == 200, name
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"], name
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], name
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], name
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], name
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], name


def test_no_page_carries_what_the_policy_would_refuse():
    """An inline <script>, an on...= handler or a style attribute would be refused by the browser."""
    for name, response in _pages().items():
        if response["Content-Type"].startswith("application/json"):
            continue
        html = response.content.decode()
        inline_scripts = [tag for tag in re.findall(r"<script\b[^>]*>", html) if " src=" not in tag]
        assert inline_scripts == [], (name, inline_scripts)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), name
        assert not re.search(r"<[^>]+\sstyle\s*=", html), (name, re.findall(r"<[^>]+\sstyle\s*=[^>]*>", html)[:3])
        assert "<style" not in html, name


def test_the_api_docs_load_their_start_up_script_from_a_url_and_only_relax_styles():
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert [tag for tag in re.findall(r"<script\b[^>]*>", html) if " src=" not in tag] == []
    policy = _policy(docs)
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'", "'unsafe-inline'"]
    script = re.search(r'<script src="([^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    started = Client().get(script)
    assert started.status_code == 200 and "SwaggerUIBundle" in started.content.decode()
