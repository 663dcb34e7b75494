"""Versioned allocation policies: a change is a new version, audited; runs keep theirs.

A risk officer's change that only tightens (lower caps, a lower approval threshold, a smaller
daily change: ``PolicyField.tighter``) applies at once. Any other change (a field loosened, the
method, a field with no safer direction) is a ``PolicyProposal`` that a second risk officer
approves or rejects, with reasons on both sides; the policy in force does not change before the
approval, and an approval of a proposal whose base version is no longer in force is refused.
One risk officer switched four eyes off with ``approval_threshold: 2.0`` before this.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts import roles
from allocations.errors import ConflictError, DomainError, NotPermitted
from allocations.models import AllocationPolicy, AuditEntry, PolicyProposal, Portfolio
from allocations.policy_fields import EDITABLE_FIELDS, POLICY_FIELDS, YAML_KEYS

from .actors import Actor
from .audit import audit_append
from .four_eyes import decision_recorded, not_the_requester, reason_required
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
    *,
    portfolio: Portfolio,
    actor: Actor,
    reason: str = "",
    changes: dict[str, Any] | None = None,
    audit_reason: str | None = None,
    proposal: PolicyProposal | None = None,
) -> AllocationPolicy:
    """Make a new policy version from the current one (or the defaults) with ``changes`` applied.

    The writer under every path (a tightening, an approved ``proposal``, the first version, the
    YAML loader): it does not decide who may change what. ``audit_reason``: the audit row's reason
    when it differs from the version's (an approval's). A new version supersedes a waiting
    proposal, which was made against the version before.
    """
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
        audit_append(
            portfolio=portfolio,
            actor=actor,
            kind=_kind(clean),
            reason=reason if audit_reason is None else audit_reason,
            payload={
                "version": policy.version,
                "changes": diff,
                "outcome": "applied",
                **({"proposal": proposal.pk} if proposal is not None else {}),
            },
        )
        _supersede_waiting(portfolio, actor, keep=proposal, reason=f"policy version {policy.version} came first")
        return policy


def _kind(changes: dict[str, Any]) -> str:
    return AuditEntry.Kind.METHOD_CHANGE if set(changes) == {"method"} else AuditEntry.Kind.POLICY_CHANGE


# --- a risk officer's change: at once when it only tightens, else a proposal -------------------


@dataclass(frozen=True)
class PolicyChange:
    """What a change request did: ``policy`` is the version in force after it (a new one when the
    change only tightened), ``proposal`` the proposal waiting for a second risk officer, if any."""

    policy: AllocationPolicy | None
    proposal: PolicyProposal | None = None


def may_decide_policy(actor: Actor, portfolio: Portfolio) -> bool:
    """Risk officers (and administrators) of the portfolio change and approve its policy."""
    return actor.user is not None and actor.user.has_perm(f"allocations.{roles.MANAGE_POLICY}", portfolio)


def policy_change_tightens_only(current: AllocationPolicy | None, clean: dict[str, Any]) -> bool:
    """Every field ``clean`` changes moves in its tighter direction (none changed counts as tightening)."""
    if current is None:
        return False
    return all(
        POLICY_FIELDS[name].tightens(getattr(current, name), value)
        for name, value in clean.items()
        if getattr(current, name) != value
    )


def policy_change_request(
    *, portfolio: Portfolio, actor: Actor, changes: dict[str, Any], reason: str = ""
) -> PolicyChange:
    """The entry point of a risk officer's change (API, admin, dashboard): a new version at once when
    it only tightens (or changes nothing: the current version), else a proposal."""
    clean = policy_validate_changes(changes)
    _require_officer(actor, portfolio, field="policy")
    with transaction.atomic():
        portfolio_lock(portfolio.pk)
        current = AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()
        if policy_change_tightens_only(current, clean):
            policy = policy_create_version(
                portfolio=portfolio, actor=actor, reason=reason.strip() or "policy tightened", changes=clean
            )
            return PolicyChange(policy=policy)
        proposal = policy_proposal_create(portfolio=portfolio, actor=actor, changes=clean, reason=reason)
        return PolicyChange(policy=current, proposal=proposal)


def policy_set_method(*, portfolio: Portfolio, method: str, actor: Actor, reason: str = "") -> PolicyChange:
    """Choose the method (the dashboard's control): a proposal, since no method is safer than another."""
    return policy_change_request(
        portfolio=portfolio, actor=actor, changes={"method": method}, reason=reason or f"method set to {method}"
    )


def policy_proposal_create(
    *, portfolio: Portfolio, actor: Actor, changes: dict[str, Any], reason: str
) -> PolicyProposal:
    """Propose ``changes`` to the version in force; a second risk officer decides. Supersedes a waiting one."""
    clean = policy_validate_changes(changes)
    _require_officer(actor, portfolio, field="policy")
    reason_required(reason, "propose a policy change")
    with transaction.atomic():
        portfolio_lock(portfolio.pk)
        current = AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()
        proposed = {name: value for name, value in clean.items() if current is None or getattr(current, name) != value}
        if not proposed:
            raise DomainError("the proposal changes nothing: the policy in force has these values", field="policy")
        _supersede_waiting(portfolio, actor, keep=None, reason="superseded by a newer proposal")
        proposal = PolicyProposal.objects.create(
            portfolio=portfolio,
            base_policy=current,
            changes={name: _as_json(value) for name, value in proposed.items()},
            reason=reason,
            requested_by=actor.user,
            status=PolicyProposal.Status.PENDING_APPROVAL,
        )
        _audit(proposal, actor, reason, "proposed")
        return proposal


def policy_proposal_approve(*, proposal: PolicyProposal, actor: Actor, reason: str) -> PolicyProposal:
    """A second risk officer approves a waiting proposal: its changes become the next version."""
    reason_required(reason, "approve a policy proposal")
    with transaction.atomic():
        proposal, current = _lock_waiting(proposal, actor)
        not_the_requester(proposal, actor, "four eyes: someone other than its proposer approves a policy change")
        if (current.pk if current else None) != proposal.base_policy_id:
            base = proposal.base_policy.version if proposal.base_policy else None
            raise ConflictError(
                f"base_version {base} is no longer in force (the policy is at version "
                f"{current.version if current else None}); propose again",
                field="base_version",
            )
        proposal.status = PolicyProposal.Status.APPLIED
        decision_recorded(proposal, actor, reason)
        policy = policy_create_version(
            portfolio=proposal.portfolio,
            actor=actor,
            reason=proposal.reason,
            changes=proposal.changes,
            audit_reason=reason,
            proposal=proposal,
        )
        proposal.applied_policy = policy
        proposal.save(update_fields=["applied_policy"])
        return proposal


def policy_proposal_reject(*, proposal: PolicyProposal, actor: Actor, reason: str) -> PolicyProposal:
    """Reject a waiting proposal; the policy in force stays."""
    reason_required(reason, "reject a policy proposal")
    with transaction.atomic():
        proposal, _ = _lock_waiting(proposal, actor)
        proposal.status = PolicyProposal.Status.REJECTED
        decision_recorded(proposal, actor, reason)
        _audit(proposal, actor, reason, "rejected")
        return proposal


def _require_officer(actor: Actor, portfolio: Portfolio, *, field: str) -> None:
    if not may_decide_policy(actor, portfolio):
        raise NotPermitted("only a risk officer of the portfolio changes or decides its policy", field=field)


def _as_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.time) else value


def _lock_waiting(proposal: PolicyProposal, actor: Actor) -> tuple[PolicyProposal, AllocationPolicy | None]:
    portfolio = portfolio_lock(proposal.portfolio_id)
    _require_officer(actor, portfolio, field="approved_by")
    proposal = (
        PolicyProposal.objects.select_for_update(of=("self",))
        .select_related("portfolio", "base_policy")
        .get(pk=proposal.pk)
    )
    if proposal.status != PolicyProposal.Status.PENDING_APPROVAL:
        raise ConflictError(f"policy proposal {proposal.pk} is {proposal.status}, not pending approval", field="status")
    current = AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()
    return proposal, current


def _supersede_waiting(portfolio: Portfolio, actor: Actor, *, keep: PolicyProposal | None, reason: str) -> None:
    waiting = PolicyProposal.objects.filter(portfolio=portfolio, status=PolicyProposal.Status.PENDING_APPROVAL)
    if keep is not None:
        waiting = waiting.exclude(pk=keep.pk)
    for proposal in waiting.select_related("base_policy"):
        proposal.status = PolicyProposal.Status.SUPERSEDED
        decision_recorded(proposal, actor, reason)
        _audit(proposal, actor, reason, "superseded")


def _audit(proposal: PolicyProposal, actor: Actor, reason: str, outcome: str) -> None:
    """The proposal's audit row: the values it changes from (its base version's) and to."""
    current = proposal.base_policy
    diff = {
        name: {"old": str(getattr(current, name)) if current else None, "new": str(value)}
        for name, value in proposal.changes.items()
    }
    audit_append(
        portfolio=proposal.portfolio,
        actor=actor,
        kind=_kind(proposal.changes),
        reason=reason,
        payload={
            "proposal": proposal.pk,
            "outcome": outcome,
            "status": proposal.status,
            "base_version": current.version if current else None,
            "changes": diff,
        },
    )
