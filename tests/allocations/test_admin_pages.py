"""Every admin page renders, and every value it shows is computed without an error (issue 8 item 13).

The admin hides an exception raised by a read-only field's callable (``AttributeError``,
``ValueError``) and shows "-" instead, so a page answering 200 proves little: the run summary was
"-" for every run. Here each ``list_display`` and ``readonly_fields`` entry of every registered
admin and inline is also computed directly (``lookup_field``, which lets the error through) on
the rows the page shows, for a superuser and for a risk officer on seeded demo data.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import lookup_field
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from allocations import display
from allocations.models import AllocationPolicy, AllocationRun, Portfolio
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.admin_support import demo_seeded, logged_in, module_world

pytestmark = pytest.mark.django_db

OUR_APPS = {"allocations", "accounts"}  # third-party admins (celery beat, knox, auth) are rendered, not inspected
USERS = ["admin", "risk"]  # a superuser, and a risk officer granted the demo portfolio only
SAMPLE_ROWS = 5  # rows of each model whose every displayed value is computed directly


def _world():
    """Demo data with an applied multi-step run (lines, a schedule, steps) and a run pending approval."""
    demo = demo_seeded(days=80)
    pm = Actor.of_user(get_user_model().objects.get(username="pm"))
    AllocationPolicy.objects.filter(portfolio=demo).update(
        approval_threshold=2.0, min_change_threshold=0.0, max_daily_change=0.01
    )
    applied = allocation_run_create(portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="risk_parity"))
    AllocationPolicy.objects.filter(portfolio=demo).update(approval_threshold=0.0)
    pending = allocation_run_create(portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="momentum"))
    assert applied.run.status == "applied" and pending.run.status == "pending_approval"
    assert applied.run.schedule.steps.count() > 1


demo_world = module_world(_world)


@pytest.fixture
def demo(demo_world, db):
    return Portfolio.objects.get(slug="demo")


def _request(username: str):
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username=username)
    return request


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _displayed_names(model_admin, request, obj=None) -> list[str]:
    names = [n for n in model_admin.get_list_display(request) if n != "action_checkbox"]
    return names + list(model_admin.get_readonly_fields(request, obj))


def _compute_every_displayed_value(model_admin, request, objects):
    """Raise what the admin would have hidden; answer how many values were computed."""
    computed = 0
    for obj in objects:
        for name in _displayed_names(model_admin, request, obj):
            lookup_field(name, obj, model_admin)  # the error itself, not "-"
            computed += 1
        for inline in model_admin.get_inline_instances(request, obj):
            related = inline.get_queryset(request).filter(**{inline.fk_name or _fk_name(inline): obj})
            for child in related[:SAMPLE_ROWS]:
                for name in inline.get_readonly_fields(request, obj):
                    lookup_field(name, child, inline)
                    computed += 1
    return computed


def _fk_name(inline) -> str:
    from django.forms.models import _get_foreign_key

    return _get_foreign_key(inline.parent_model, inline.model).name


@pytest.mark.parametrize("username", USERS)
def test_every_displayed_value_is_computed_without_an_error(demo, username):
    request = _request(username)
    computed = {}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS or not model_admin.has_view_permission(request):
            continue
        rows = model_admin.get_queryset(request)[:SAMPLE_ROWS]
        computed[model.__name__] = _compute_every_displayed_value(model_admin, request, rows)
    assert computed["AllocationRun"] > 0 and computed["TransitionSchedule"] > 0 and computed["Portfolio"] > 0


@pytest.mark.parametrize("username", USERS)
def test_every_changelist_and_change_form_renders(demo, username):
    client, request = logged_in(username), _request(username)
    rendered = []
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        changelist = client.get(_url(model, "changelist"))
        assert changelist.status_code == 200, (model.__name__, changelist.status_code)
        obj = model_admin.get_queryset(request).first()
        if obj is None:
            continue
        change = client.get(_url(model, "change", obj.pk))
        assert change.status_code == 200, (model.__name__, change.status_code)
        rendered.append(model.__name__)
    for needed in ("Portfolio", "AllocationPolicy", "AllocationRun", "AllocationLine", "TransitionSchedule"):
        assert needed in rendered
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("username", USERS)
def test_the_run_summary_is_shown(demo, username):
    """Issue 8 item 13: format_html with a format spec raised ValueError and the admin showed "-"."""
    run = AllocationRun.objects.filter(portfolio=demo).latest("created_at")
    page = logged_in(username).get(_url(AllocationRun, "change", run.pk)).content.decode()
    assert "ex-ante volatility" in page
    assert f"cash {display.percent(run.cash_weight)}" in page
    model_admin = admin.site._registry[AllocationRun]
    assert str(model_admin.run_summary(run)).startswith(f"ex-ante volatility {display.percent(run.ex_ante_volatility)}")


ASKS_FOR_A_REASON = {"AllocationRun.approve", "AllocationRun.reject", "TransitionSchedule.cancel"}


@pytest.mark.parametrize("username", USERS)
def test_each_custom_action_renders_its_intermediate_page(demo, username):
    """Every action that is not Django's own delete, on rows of the page: those that decide ask for a
    reason first (their intermediate page); the others act at once and come back to the list."""
    client, request = logged_in(username), _request(username)
    seen = {}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS:
            continue
        actions = [name for name in model_admin.get_actions(request) if name != "delete_selected"]
        rows = list(model_admin.get_queryset(request).values_list("pk", flat=True)[:2])
        for action in actions:
            if not rows:
                continue
            response = client.post(_url(model, "changelist"), {"action": action, ACTION_CHECKBOX_NAME: rows})
            seen[f"{model.__name__}.{action}"] = response
            assert response.status_code in (200, 302), (model.__name__, action, response.status_code)
    assert ASKS_FOR_A_REASON <= set(seen)
    for name in ASKS_FOR_A_REASON:
        assert seen[name].status_code == 200, name
        assert 'name="reason"' in seen[name].content.decode(), name
