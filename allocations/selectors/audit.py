"""Reads of the audit trail: its verification (every chain against its signed head) and its rows.

Every function returns model instances, querysets (joins set up front) or plain values and
raises no HTTP error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from allocations.audit_chain import (
    GENESIS_HASH,
    ChainHasher,
    audit_key,
    entry_canonical,
    head_signature,
    legacy_chain_hash,
)
from allocations.models import AllocationRun, AuditChainHead, AuditEntry, Portfolio, Strategy, TransitionStep
from allocations.models.audit import audit_effective_time


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
