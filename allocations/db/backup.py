"""A backup's audit chain heads, read from the dump file before it is restored.

``deploy/restore.sh`` checks them first (``manage.py verify_audit --backup FILE``): each head's
signature is an HMAC under ``AUDIT_HMAC_KEY``, so a restore under the wrong key stops before it
writes anything, instead of committing a database whose trail then fails to verify.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from allocations.audit_chain import head_signature
from allocations.models import AuditChainHead

TABLE = AuditChainHead._meta.db_table


def backup_chain_heads(path: Path) -> list[dict[str, str]]:
    """The chain-head rows of a ``pg_dump --format=custom`` file, as COPY text columns."""
    done = subprocess.run(
        ["pg_restore", "--data-only", f"--table={TABLE}", "--file=-", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise ValueError(f"{path}: pg_restore cannot read it: {done.stderr.strip()}")
    rows, columns = [], None
    for line in done.stdout.splitlines():
        if columns is None:
            if line.startswith("COPY ") and f"{TABLE} (" in line:
                columns = [c.strip().strip('"') for c in line.split("(", 1)[1].split(")", 1)[0].split(",")]
            continue
        if line == "\\.":
            break
        rows.append(dict(zip(columns, line.split("\t"), strict=True)))
    return rows


def backup_heads_problems(heads: list[dict[str, str]], key: bytes) -> list[str]:
    """The heads whose signature ``key`` does not make (all of them under a wrong key)."""
    problems = []
    for head in heads:
        expected = head_signature(
            key,
            portfolio_id=int(head["portfolio_id"]),
            count=int(head["count"]),
            last_hash=head["last_hash"],
            legacy_count=int(head["legacy_count"]),
        )
        if expected != head["signature"]:
            problems.append(f"portfolio id {head['portfolio_id']}")
    return problems
