"""Reads of a portfolio's policy: the version in force and the proposals to change it."""

from __future__ import annotations

from django.db.models import QuerySet

from allocations.models import AllocationPolicy, PolicyProposal, Portfolio

from .ordering import newest_first


def policy_current(*, portfolio: Portfolio) -> AllocationPolicy | None:
    return AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()


def policy_proposal_list(*, portfolio: Portfolio) -> QuerySet[PolicyProposal]:
    return newest_first(
        PolicyProposal,
        portfolio=portfolio,
        related=("requested_by", "decided_by", "base_policy", "applied_policy"),
        by="requested_at",
    )


def policy_proposal_get(*, portfolio: Portfolio, proposal_id: int) -> PolicyProposal | None:
    return policy_proposal_list(portfolio=portfolio).filter(pk=proposal_id).first()
