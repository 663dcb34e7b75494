"""The web admin: every model registered, every changelist answers, the audit trail is read-only."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from allocations.demo import demo_seed
from allocations.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


def test_every_allocation_model_is_registered():
    models = set(apps.get_app_config("allocations").get_models())
    assert models == models & set(admin.site._registry)


def test_audit_admin_refuses_add_change_and_delete_even_for_a_superuser(superuser):
    demo_seed(strategies=8, days=10)
    entry = AuditEntry.objects.first()
    request = RequestFactory().get("/admin/")
    request.user = superuser
    model_admin = admin.site._registry[AuditEntry]
    assert model_admin.has_view_permission(request, entry)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert not model_admin.has_delete_permission(request)


def test_audit_admin_pages_do_not_offer_to_write(client, superuser):
    demo_seed(strategies=8, days=10)
    entry = AuditEntry.objects.first()
    client.force_login(superuser)
    assert client.get(reverse("admin:allocations_auditentry_add")).status_code == 403
    detail = client.get(reverse("admin:allocations_auditentry_change", args=[entry.pk]))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert client.get(reverse("admin:allocations_auditentry_delete", args=[entry.pk])).status_code == 403
    response = client.post(reverse("admin:allocations_auditentry_change", args=[entry.pk]), {"reason": "edited"})
    assert response.status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).reason == entry.reason
    changelist = client.post(
        reverse("admin:allocations_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert changelist.status_code in {200, 302, 403}
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_every_changelist_answers_for_the_admin(client):
    demo_seed(strategies=8, days=10)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="admin"))
    assert admin.site._registry, "nothing registered"
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        ("Sector", {"code": "space", "name": "Sp\u200bace"}, "name"),
        ("Portfolio", {"slug": "p-1", "name": "Fund \u202eA", "base_currency": "USD", "total_equity": "1000"}, "name"),
    ],
)
def test_admin_forms_refuse_invisible_characters_in_names(rf, superuser, model, data, field):
    """Issue 21 item 19: the admin's add forms of sectors and portfolios check names as the services do."""
    from allocations import models

    request = rf.get("/")
    request.user = superuser
    model_admin = admin.site._registry[getattr(models, model)]
    form = model_admin.get_form(request)(data=data)
    assert not form.is_valid()
    assert "invisible or direction-changing" in form.errors[field][0]
    clean = model_admin.get_form(request)(data={**data, field: "Plain"})
    assert field not in clean.errors
