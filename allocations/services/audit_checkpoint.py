"""Chain-head checkpoints: where each portfolio's audit chain ended, kept where the database cannot reach.

The tables' owner can put back an *old*, validly signed chain head and delete the rows after it: the
trail verifies again. ``manage.py verify_audit --checkpoint FILE`` (daily) compares every chain with
the heads FILE saw last and appends today's, one JSON line per check; the same heads go to the log
(``allocations.audit_checkpoint``), a second copy that log shipping keeps off the machine.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.utils import timezone

from allocations.models import AuditChainHead, AuditEntry, Portfolio

logger = logging.getLogger("allocations.audit_checkpoint")


@dataclass(frozen=True)
class Checkpoint:
    at: str
    heads: dict[int, tuple[int, str]]  # portfolio id -> (rows, last hash)


def chain_heads() -> dict[int, tuple[int, str]]:
    return {pid: (count, last) for pid, count, last in AuditChainHead.objects.values_list("pk", "count", "last_hash")}


def checkpoint_last(path: Path) -> Checkpoint | None:
    """The file's last checkpoint (None for a missing or empty file); a line that is not one is an error."""
    if not path.exists():
        return None
    last = None
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                last = Checkpoint(
                    at=str(record["at"]),
                    heads={int(pid): (int(count), str(h)) for pid, (count, h) in record["heads"].items()},
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ValueError(f"{path}: line {number} is not a checkpoint") from None
    return last


def checkpoint_problems(checkpoint: Checkpoint) -> list[str]:
    """How the database's chains differ from ``checkpoint``: each problem names the portfolio.

    A chain may have grown since; it must not have lost a row, nor changed the row at the position
    the checkpoint saw last (``seq`` is checked against id order by ``audit_verify``)."""
    now = chain_heads()
    slugs = dict(Portfolio.objects.filter(pk__in=checkpoint.heads).values_list("pk", "slug"))
    problems = []
    for pid, (count, last_hash) in sorted(checkpoint.heads.items()):
        name = f"portfolio {slugs.get(pid, '?')} (id {pid})"
        rows = now.get(pid, (0, ""))[0]
        if rows < count:
            problems.append(
                f"{name}: the checkpoint of {checkpoint.at} saw {count} rows ending in {last_hash}; the chain now "
                f"has {rows} (rolled back)"
            )
            continue
        if count == 0:
            continue
        stored = AuditEntry.objects.filter(portfolio_id=pid, seq=count).values_list("entry_hash", flat=True).first()
        if stored != last_hash:
            problems.append(
                f"{name}: the checkpoint of {checkpoint.at} saw row {count} with hash {last_hash}; it is now "
                f"{stored} (the chain was replaced since)"
            )
    return problems


def checkpoint_append(path: Path, *, at: datetime | None = None) -> Checkpoint:
    """Append the current chain heads to ``path`` (created 0600 with its folder) and log them."""
    heads = chain_heads()
    checkpoint = Checkpoint(at=(at or timezone.now()).isoformat(), heads=heads)
    line = json.dumps({"at": checkpoint.at, "heads": {str(pid): list(head) for pid, head in sorted(heads.items())}})
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())
    logger.info("audit chain heads checkpointed", extra={"checkpoint": str(path), "heads": len(heads), "line": line})
    return checkpoint
