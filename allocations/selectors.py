"""Reads of the allocation domain. Views, tasks and services read through these."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from allocations.audit_chain import GENESIS_HASH, chain_hash, entry_canonical
from allocations.models import AllocationPolicy, AuditEntry, Fund, Portfolio, Strategy


def portfolio_get(*, slug: str) -> Portfolio:
    return Portfolio.objects.get(slug=slug)


def policy_current(*, portfolio: Portfolio) -> AllocationPolicy | None:
    return AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()


def strategy_list(*, portfolio: Portfolio) -> QuerySet[Strategy]:
    return Strategy.objects.filter(portfolio=portfolio).select_related("sector").order_by("code")


def fund_list(*, portfolio: Portfolio) -> QuerySet[Fund]:
    return Fund.objects.filter(strategy__portfolio=portfolio).select_related("strategy").order_by("strategy__code")


def fund_total_capital(*, portfolio: Portfolio) -> Decimal:
    total = fund_list(portfolio=portfolio).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal("0")).quantize(Decimal("0.01"))


def fund_weights(*, portfolio: Portfolio) -> dict[str, float]:
    """Each strategy's share of the total allocated capital (the specification's weights)."""
    amounts = dict(fund_list(portfolio=portfolio).values_list("strategy__code", "amount"))
    total = sum(amounts.values(), Decimal("0"))
    if total == 0:
        return {}
    return {code: float(amount / total) for code, amount in amounts.items()}


@dataclass(frozen=True)
class AuditVerification:
    checked: int
    first_bad: AuditEntry | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def audit_verify(*, portfolio: Portfolio | None = None) -> AuditVerification:
    """Recompute every portfolio's hash chain; report the first row that does not match.

    A row fails when its stored ``prev_hash`` is not its predecessor's hash (a row was removed
    or inserted) or when its content no longer hashes to ``entry_hash`` (a row was altered).
    """
    entries = AuditEntry.objects.order_by("portfolio_id", "id")
    if portfolio is not None:
        entries = entries.filter(portfolio=portfolio)
    checked = 0
    current_portfolio, expected_prev = None, GENESIS_HASH
    for entry in entries.iterator(chunk_size=2000):
        if entry.portfolio_id != current_portfolio:
            current_portfolio, expected_prev = entry.portfolio_id, GENESIS_HASH
        checked += 1
        if entry.prev_hash != expected_prev:
            return AuditVerification(checked, entry, "its predecessor's hash does not match (a row was removed or inserted)")
        if chain_hash(entry_canonical(entry), entry.prev_hash) != entry.entry_hash:
            return AuditVerification(checked, entry, "its content does not match its hash (the row was altered)")
        expected_prev = entry.entry_hash
    return AuditVerification(checked)
