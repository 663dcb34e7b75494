"""Core reads: portfolios, policies, strategies, funds, runs, schedules, the audit trail.

Every function returns model instances, querysets (joins set up front) or plain values and
raises no HTTP error: a missing row is ``None``; the API decides what that means.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from guardian.shortcuts import get_objects_for_user

from allocations import clock
from allocations.audit_chain import (
    GENESIS_HASH,
    ChainHasher,
    audit_key,
    entry_canonical,
    head_signature,
    legacy_chain_hash,
)
from allocations.calendar import local_date
from allocations.models import (
    AllocationLine,
    AllocationPolicy,
    AllocationRun,
    AuditChainHead,
    AuditEntry,
    EquityChange,
    Fund,
    IdempotencyRecord,
    PolicyProposal,
    Portfolio,
    Sector,
    SectorSignal,
    Strategy,
    StrategyReturn,
    TransitionSchedule,
    TransitionStep,
)
from allocations.models.audit import EFFECTIVE_TIME_SQL, audit_effective_time  # noqa: F401  (re-exported)
from allocations.money import CENT


def policy_current(*, portfolio: Portfolio) -> AllocationPolicy | None:
    return AllocationPolicy.objects.filter(portfolio=portfolio).order_by("-version").first()


def strategy_list(*, portfolio: Portfolio) -> QuerySet[Strategy]:
    return Strategy.objects.filter(portfolio=portfolio).select_related("sector").order_by("code")


def fund_list(*, portfolio: Portfolio) -> QuerySet[Fund]:
    return Fund.objects.filter(strategy__portfolio=portfolio).select_related("strategy").order_by("strategy__code")


def fund_total_capital(*, portfolio: Portfolio) -> Decimal:
    total = fund_list(portfolio=portfolio).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal("0")).quantize(CENT)


def fund_weights(*, portfolio: Portfolio) -> dict[str, float]:
    """Each strategy's share of the total allocated capital (the specification's weights)."""
    amounts = dict(fund_list(portfolio=portfolio).values_list("strategy__code", "amount"))
    total = sum(amounts.values(), Decimal("0"))
    if total == 0:
        return {}
    return {code: float(amount / total) for code, amount in amounts.items()}


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of ``audit_verify``: ``first_bad`` names a row; a chain-head problem names ``portfolio_id`` only.

    ``orphans`` counts the rows whose run, step or strategy is missing (the chain itself is intact
    then, and ``first_bad`` is the first of them)."""

    checked: int
    first_bad: AuditEntry | None = None
    problem: str = ""
    portfolio_id: int | None = None
    orphans: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem


def _head_problem(head: AuditChainHead, key: bytes) -> str:
    signature = head_signature(
        key, portfolio_id=head.portfolio_id, count=head.count, last_hash=head.last_hash, legacy_count=head.legacy_count
    )
    if signature != head.signature:
        return (
            f"the chain head's signature does not match its {head.count} rows / hash {head.last_hash} "
            "(the head was altered, or AUDIT_HMAC_KEY is not the key the trail was written with)"
        )
    return ""


def _tail_problem(head: AuditChainHead, rows: int, last_hash: str) -> str:
    if rows < head.count:
        return (
            f"the chain head says {head.count} rows / hash {head.last_hash}, the table has {rows} "
            "(rows were removed from the end)"
        )
    if last_hash != head.last_hash:
        return (
            f"the chain head says {head.count} rows / hash {head.last_hash}, the table's last row has hash {last_hash}"
        )
    return ""


# The keys of an audit row the database does not check (migration 0012): ``verify_audit`` does.
AUDIT_ROW_KEYS = (("strategy", Strategy), ("run", AllocationRun), ("step", TransitionStep))


def _missing(key: str, model) -> Q:
    return Q(**{f"{key}_id__isnull": False}) & ~Exists(model._base_manager.filter(pk=OuterRef(f"{key}_id")))


def audit_rows_with_missing_keys(*, portfolio: Portfolio | None = None) -> QuerySet[AuditEntry]:
    """Audit rows, in id order, whose strategy, run or step points at a row that does not exist."""
    condition = _missing(*AUDIT_ROW_KEYS[0]) | _missing(*AUDIT_ROW_KEYS[1]) | _missing(*AUDIT_ROW_KEYS[2])
    rows = AuditEntry.objects.filter(condition).order_by("id")
    return rows if portfolio is None else rows.filter(portfolio=portfolio)


def _orphans(checked: int, portfolio: Portfolio | None) -> AuditVerification:
    rows = audit_rows_with_missing_keys(portfolio=portfolio)
    first = rows.first()
    if first is None:
        return AuditVerification(checked)
    missing = [
        f"its {key} {getattr(first, f'{key}_id')} does not exist"
        for key, model in AUDIT_ROW_KEYS
        if getattr(first, f"{key}_id") is not None
        and not model._base_manager.filter(pk=getattr(first, f"{key}_id")).exists()
    ]
    problem = f"{' and '.join(missing)} (the database does not check audit rows' keys: removed by hand, or never there)"
    return AuditVerification(checked, first, problem, first.portfolio_id, orphans=rows.count())


def _recorded_problem(before: datetime | None, recorded_at: datetime | None) -> str:
    """Why a row's database time does not follow its predecessor's, or ""."""
    if before is not None and recorded_at is None:
        return "it has no recorded_at although an earlier row has one (the database stamps every row since 0017)"
    if before is not None and recorded_at < before:
        return (
            f"it was recorded at {recorded_at.isoformat()}, before the row ahead of it in the chain "
            f"({before.isoformat()}): the database's time never runs backwards along a chain"
        )
    return ""


def audit_verify(*, portfolio: Portfolio | None = None) -> AuditVerification:
    """Recompute every portfolio's hash chain and compare it with its chain head; report the first problem.

    A row fails when its stored ``prev_hash`` is not its predecessor's hash (a row was removed or
    inserted), when its content no longer hashes to ``entry_hash`` under ``AUDIT_HMAC_KEY`` (a row
    was altered; the first ``legacy_count`` rows of a chain use the plain sha256 of before
    migration 0007), when its ``seq`` is not its place in the chain (1..n in id order; ``seq`` is
    not hashed), when it lies beyond the chain head, or when its ``recorded_at`` (the database's
    time, not hashed) is earlier than its predecessor's. A chain fails as a whole when its head
    is missing or its signature is wrong, or when the table ends before the head says (its last
    rows were removed). With every chain intact, the rows whose strategy, run or step is missing
    are reported (``orphans``; the first of them named).
    """
    key = audit_key()
    keyed_hash = ChainHasher(key)
    heads = AuditChainHead.objects.all()
    entries = AuditEntry.objects.order_by("portfolio_id", "id")
    if portfolio is not None:
        heads, entries = heads.filter(portfolio=portfolio), entries.filter(portfolio=portfolio)
    heads = {head.portfolio_id: head for head in heads}
    checked = 0
    current_portfolio, head, rows, expected_prev, recorded = None, None, 0, GENESIS_HASH, None
    for entry in entries.iterator(chunk_size=2000):
        if entry.portfolio_id != current_portfolio:
            if head is not None and (problem := _tail_problem(head, rows, expected_prev)):
                return AuditVerification(checked, None, problem, current_portfolio)
            current_portfolio, rows, expected_prev, recorded = entry.portfolio_id, 0, GENESIS_HASH, None
            head = heads.pop(current_portfolio, None)
            if head is None:
                problem = "no chain head records this portfolio's audit rows (the head was removed)"
                return AuditVerification(checked, None, problem, current_portfolio)
            if problem := _head_problem(head, key):
                return AuditVerification(checked, None, problem, current_portfolio)
        checked += 1
        rows += 1
        if entry.prev_hash != expected_prev:
            problem = "its predecessor's hash does not match (a row was removed or inserted)"
            return AuditVerification(checked, entry, problem, current_portfolio)
        hash_of = legacy_chain_hash if rows <= head.legacy_count else keyed_hash
        if hash_of(entry_canonical(entry), entry.prev_hash) != entry.entry_hash:
            problem = "its content does not match its hash (the row was altered)"
            return AuditVerification(checked, entry, problem, current_portfolio)
        if entry.seq != rows:
            problem = (
                f"its chain position (seq) is {entry.seq}, its place in id order is {rows} "
                "(seq altered, or written out of place)"
            )
            return AuditVerification(checked, entry, problem, current_portfolio)
        if rows > head.count:
            problem = f"it lies beyond the chain head's {head.count} rows (appended without moving the head)"
            return AuditVerification(checked, entry, problem, current_portfolio)
        if problem := _recorded_problem(recorded, entry.recorded_at):
            return AuditVerification(checked, entry, problem, current_portfolio)
        expected_prev, recorded = entry.entry_hash, entry.recorded_at or recorded
    if head is not None and (problem := _tail_problem(head, rows, expected_prev)):
        return AuditVerification(checked, None, problem, current_portfolio)
    for portfolio_id, orphan in sorted(heads.items()):  # heads whose rows are all gone
        if problem := _head_problem(orphan, key) or _tail_problem(orphan, 0, GENESIS_HASH):
            return AuditVerification(checked, None, problem, portfolio_id)
    return _orphans(checked, portfolio)


# --- reads of the REST API: permission filtering in one place -------------------------------
# A portfolio the user may not view is answered exactly like a missing one (404); one the user
# may view but not act on gets 403. Groups hold no global portfolio permission: only
# per-portfolio grants (django-guardian) count.


def portfolio_list_for_user(*, user) -> QuerySet[Portfolio]:
    """The portfolios ``user`` may view (a superuser: all)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Portfolio.objects.none()
    return get_objects_for_user(
        user, "allocations.view_portfolio", klass=Portfolio, accept_global_perms=False
    ).order_by("slug")


def portfolio_for_user(*, user, slug: str) -> Portfolio | None:
    """The portfolio ``slug`` if ``user`` may view it; None when it is missing or not viewable."""
    return portfolio_list_for_user(user=user).filter(slug=slug).first()


def user_may(*, user, perm: str, portfolio: Portfolio) -> bool:
    """Whether ``user`` holds ``perm`` (a codename of ``allocations``) on ``portfolio``."""
    return perm == "view_portfolio" or user.has_perm(f"allocations.{perm}", portfolio)


def strategy_get(*, portfolio: Portfolio, code: str) -> Strategy | None:
    return Strategy.objects.filter(portfolio=portfolio, code=code).select_related("sector").first()


def strategy_list_with_funds(*, portfolio: Portfolio) -> QuerySet[Strategy]:
    return strategy_list(portfolio=portfolio).select_related("fund")


def strategy_return_list(*, portfolio: Portfolio) -> QuerySet[StrategyReturn]:
    return (
        StrategyReturn.objects.filter(strategy__portfolio=portfolio)
        .select_related("strategy")
        .order_by("-date", "strategy__code")
    )


def newest_first(model, *, portfolio: Portfolio, related: tuple[str, ...] = (), by: str = "created_at") -> QuerySet:
    """The rows of ``model`` in ``portfolio``, ``related`` joined, newest ``by`` first (then the newest id)."""
    return model.objects.filter(portfolio=portfolio).select_related(*related).order_by(f"-{by}", "-id")


def signal_list(*, portfolio: Portfolio) -> QuerySet[SectorSignal]:
    return newest_first(SectorSignal, portfolio=portfolio, related=("sector",), by="as_of")


def run_list(*, portfolio: Portfolio) -> QuerySet[AllocationRun]:
    return newest_first(AllocationRun, portfolio=portfolio, related=("policy", "requested_by", "decided_by"))


def run_get(*, portfolio: Portfolio, public_id: str) -> AllocationRun | None:
    """The run of ``portfolio`` with this allocation id, or None (also for a malformed id)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return run_list(portfolio=portfolio).filter(public_id=key).first()


def run_for_idempotency_key(*, portfolio: Portfolio, key: str, user, label: str) -> AllocationRun | None:
    """The run of ``portfolio`` that this requester (a user, or else an actor label) made with ``key``."""
    runs = AllocationRun.objects.filter(portfolio=portfolio, idempotency_key=key)
    runs = runs.filter(requested_by=user) if user is not None else runs.filter(requested_by=None, requested_via=label)
    return runs.first()


def run_lines(*, run: AllocationRun) -> QuerySet[AllocationLine]:
    return run.lines.select_related("strategy").order_by("strategy__code")


def schedule_list(*, portfolio: Portfolio) -> QuerySet[TransitionSchedule]:
    return newest_first(TransitionSchedule, portfolio=portfolio, related=("run", "closed_by"))


def schedule_get(*, portfolio: Portfolio, schedule_id: int) -> TransitionSchedule | None:
    return schedule_list(portfolio=portfolio).prefetch_related("steps").filter(pk=schedule_id).first()


def strategy_codes_by_id(*, portfolio: Portfolio) -> dict[int, str]:
    return dict(Strategy.objects.filter(portfolio=portfolio).values_list("id", "code"))


def audit_list(*, portfolio: Portfolio) -> QuerySet[AuditEntry]:
    """The portfolio's audit rows, newest first by chain position (clocks can disagree; the chain cannot)."""
    return (
        AuditEntry.objects.filter(portfolio=portfolio)
        .select_related("strategy", "run", "actor")
        .annotate(effective_time=audit_effective_time())
        .order_by("-seq")
    )


def fund_changes_recent(*, portfolio: Portfolio, limit: int = 10) -> list[AuditEntry]:
    return list(audit_list(portfolio=portfolio).filter(kind=AuditEntry.Kind.FUND_CHANGE)[:limit])


def sector_codes() -> set[str]:
    """The codes of every sector."""
    return set(Sector.objects.values_list("code", flat=True))


def portfolio_today(portfolio: Portfolio) -> date:
    """Today's date in the portfolio's time zone (steps fall on its business days)."""
    return local_date(clock.now(), portfolio.timezone)


def idempotency_record_get(*, user, key: str) -> IdempotencyRecord | None:
    """The claim or stored response of ``user``'s idempotency key, if any."""
    return IdempotencyRecord.objects.filter(user=user, key=key).first()


def sector_get(*, code: str) -> Sector | None:
    return Sector.objects.filter(code=code).first()


def equity_change_list(*, portfolio: Portfolio) -> QuerySet[EquityChange]:
    return newest_first(EquityChange, portfolio=portfolio, related=("requested_by", "decided_by"), by="requested_at")


def equity_change_get(*, portfolio: Portfolio, change_id: int) -> EquityChange | None:
    return equity_change_list(portfolio=portfolio).filter(pk=change_id).first()


def policy_proposal_list(*, portfolio: Portfolio) -> QuerySet[PolicyProposal]:
    return newest_first(
        PolicyProposal,
        portfolio=portfolio,
        related=("requested_by", "decided_by", "base_policy", "applied_policy"),
        by="requested_at",
    )


def policy_proposal_get(*, portfolio: Portfolio, proposal_id: int) -> PolicyProposal | None:
    return policy_proposal_list(portfolio=portfolio).filter(pk=proposal_id).first()
