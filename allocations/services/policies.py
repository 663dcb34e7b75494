"""Versioned allocation policies: a change is a new version, audited; runs keep theirs."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from allocations.errors import DomainError
from allocations.models import AllocationPolicy, AuditEntry, Portfolio
from allocations.policy_fields import EDITABLE_FIELDS, POLICY_FIELDS, YAML_KEYS

from .actors import Actor
from .audit import audit_append
from .locks import portfolio_lock


def policy_validate_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check and coerce policy field values against ``POLICY_FIELDS``; ``DomainError`` names the first bad field."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        field = POLICY_FIELDS.get(name)
        if field is None:
            raise DomainError(f"unknown policy field {name!r}", field=name)
        try:
            clean[name] = field.validate(value)
        except ValueError as exc:
            raise DomainError(f"{name} {exc}", field=name) from None
    return clean


def policy_from_yaml(document: Any) -> dict[str, Any]:
    """The policy fields named by a capital-allocation-config.yaml document."""
    if not isinstance(document, dict):
        raise DomainError("the policy file must be a mapping of sections", field="file")
    changes: dict[str, Any] = {}
    for section, values in document.items():
        if section not in YAML_KEYS:
            raise DomainError(f"unknown section {section!r}; expected {', '.join(YAML_KEYS)}", field=section)
        if not isinstance(values, dict):
            raise DomainError(f"section {section!r} must be a mapping", field=section)
        for key, value in values.items():
            if key not in YAML_KEYS[section]:
                raise DomainError(f"unknown key {section}.{key}", field=f"{section}.{key}")
            changes[YAML_KEYS[section][key]] = value
    try:
        return policy_validate_changes(changes)
    except DomainError as exc:
        section = next(s for s, keys in YAML_KEYS.items() if exc.field in keys.values())
        raise DomainError(f"{section}.{exc.message}", field=f"{section}.{exc.field}") from None


def policy_create_version(
    *, portfolio: Portfolio, actor: Actor, reason: str = "", changes: dict[str, Any] | None = None
) -> AllocationPolicy:
    """Make a new policy version from the current one (or the defaults) with ``changes`` applied."""
    clean = policy_validate_changes(changes or {})
    with transaction.atomic():
        portfolio_lock(portfolio.pk)
        current = AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()
        base = {name: getattr(current, name) for name in EDITABLE_FIELDS} if current else {}
        fields = {**base, **clean}
        if current is not None and fields == base:
            return current
        policy = AllocationPolicy.objects.create(
            portfolio=portfolio,
            version=(current.version + 1) if current else 1,
            created_by=actor.user,
            reason=reason,
            **fields,
        )
        diff = {
            name: {"old": str(base.get(name)) if current else None, "new": str(getattr(policy, name))}
            for name in EDITABLE_FIELDS
            if not current or base.get(name) != getattr(policy, name)
        }
        kind = AuditEntry.Kind.METHOD_CHANGE if set(clean) == {"method"} else AuditEntry.Kind.POLICY_CHANGE
        audit_append(
            portfolio=portfolio,
            actor=actor,
            kind=kind,
            reason=reason,
            payload={"version": policy.version, "changes": diff},
        )
        return policy


def policy_set_method(*, portfolio: Portfolio, method: str, actor: Actor, reason: str = "") -> AllocationPolicy:
    return policy_create_version(portfolio=portfolio, actor=actor, reason=reason, changes={"method": method})
