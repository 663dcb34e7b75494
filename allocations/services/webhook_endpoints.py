"""Webhook endpoints: created, re-pointed, described, deactivated or reactivated, their secrets rotated.

Every change writes a ``webhook_change`` audit row; a URL is checked when it is saved
(``webhook_targets``) and again at each delivery (``services.webhook_delivery``).
"""

from __future__ import annotations

import secrets

from django.db import transaction

from allocations.errors import DomainError
from allocations.models import AuditEntry, Portfolio, WebhookEndpoint

from .actors import Actor
from .audit import audit_append
from .webhook_targets import webhook_target_check


def _checked_url(url: str) -> str:
    """``url`` when its target is acceptable now (``webhook_targets``: https, no credentials, every
    address it resolves to public); else a ``DomainError`` on ``url``. Deliveries check it again."""
    url = (url or "").strip() if isinstance(url, str) else url
    webhook_target_check(url)
    return url


def _audit_webhook(endpoint: WebhookEndpoint, *, actor: Actor, action: str, reason: str = "", **payload) -> None:
    """One ``webhook_change`` audit row in the caller's transaction (never the secret, only that it changed)."""
    audit_append(
        portfolio=endpoint.portfolio,
        actor=actor,
        kind=AuditEntry.Kind.WEBHOOK_CHANGE,
        reason=reason or f"webhook endpoint {endpoint.pk} {action.replace('_', ' ')}",
        payload={"action": action, "endpoint": endpoint.pk, "url": endpoint.url, **payload},
    )


def webhook_endpoint_create(*, portfolio: Portfolio, url: str, actor: Actor, description: str = "") -> WebhookEndpoint:
    """A new endpoint with a fresh random secret (shown to its creator once; it signs every delivery)."""
    url = _checked_url(url)
    with transaction.atomic():
        if WebhookEndpoint.objects.filter(portfolio=portfolio, url=url).exists():
            raise DomainError(f"portfolio {portfolio.slug!r} already sends to {url}", field="url")
        endpoint = WebhookEndpoint.objects.create(
            portfolio=portfolio,
            url=url,
            description=description,
            secret=secrets.token_hex(32),
            created_by=actor.user,
        )
        _audit_webhook(endpoint, actor=actor, action="create", description=description)
        return endpoint


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Actor,
    url: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Re-point, describe, deactivate or reactivate an endpoint; every change is audited."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().select_related("portfolio").get(pk=endpoint.pk)
        changes: dict[str, dict] = {}
        if url is not None and url.strip() != endpoint.url:
            url = _checked_url(url)
            if WebhookEndpoint.objects.filter(portfolio=endpoint.portfolio, url=url).exclude(pk=endpoint.pk).exists():
                raise DomainError(f"portfolio {endpoint.portfolio.slug!r} already sends to {url}", field="url")
            changes["url"] = {"old": endpoint.url, "new": url}
            endpoint.url = url
        if description is not None and description != endpoint.description:
            changes["description"] = {"old": endpoint.description, "new": description}
            endpoint.description = description
        if is_active is not None and is_active != endpoint.is_active:
            changes["is_active"] = {"old": endpoint.is_active, "new": is_active}
            endpoint.is_active = is_active
        if not changes:
            return endpoint
        endpoint.save(update_fields=["url", "description", "is_active"])
        if set(changes) == {"is_active"}:
            action = "activate" if endpoint.is_active else "deactivate"
        else:
            action = "repoint" if "url" in changes else "update"
        _audit_webhook(endpoint, actor=actor, action=action, changes=changes)
        return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookEndpoint:
    """A new secret: deliveries from now on are signed with it (audited; the secret itself is not)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().select_related("portfolio").get(pk=endpoint.pk)
        endpoint.secret = secrets.token_hex(32)
        endpoint.save(update_fields=["secret"])
        _audit_webhook(endpoint, actor=actor, action="rotate_secret")
        return endpoint


def webhook_secrets_reencrypt() -> int:
    """Every endpoint's secret written again under the current ``WEBHOOK_SECRET_KEY`` (read with it or
    a fallback): after a key change, so the fallback can be dropped. The secrets themselves stay."""
    count = 0
    with transaction.atomic():
        for pk, secret in WebhookEndpoint.objects.select_for_update().values_list("pk", "secret"):
            count += WebhookEndpoint.objects.filter(pk=pk).update(secret=secret)  # plain -> encrypted anew
    return count
