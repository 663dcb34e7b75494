"""Four eyes, written once for the runs, the equity and the policy: a decision needs a reason, the
one who asked never approves, and the decision is recorded on the row that waited."""

from __future__ import annotations

from django.db import models

from allocations import clock
from allocations.errors import DomainError, NotPermitted

from .actors import Actor


def reason_required(reason: str, what: str) -> None:
    """A decision (or a request that waits for one) says why: ``what`` names it in the refusal."""
    if not reason or not str(reason).strip():
        raise DomainError(f"a reason is required to {what}", field="reason")


def not_the_requester(row: models.Model, actor: Actor, refusal: str) -> None:
    """Refuse (``NotPermitted``, 403) an approval by the row's requester, or by no person at all."""
    if actor.user is None or (row.requested_by_id is not None and row.requested_by_id == actor.user.pk):
        raise NotPermitted(refusal, field="approved_by")


def decision_recorded(row: models.Model, actor: Actor, reason: str) -> None:
    """Who decided the waiting row, when and why; its ``status`` is the caller's, saved with them."""
    row.decided_by = actor.user
    row.decided_at = clock.now()
    row.decision_reason = reason
    row.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
