"""Each fast path of ``allocations.db`` against its portable twin, on the same rows, in one run.

A fast half stays only where it pays: this prints, per operation, the median time of the PostgreSQL
half and of the ORM twin on a portfolio of ``--strategies`` strategies with 252 days of returns
(the demo seed), writes inside a transaction rolled back after each repeat. Both halves run in the
same process, one after the other, so the ratio holds on a shared machine where absolute times drift.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cae_bench python bench/db_paths.py --strategies 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal

from support import ROOT, django_env, migrate

sys.path.insert(0, str(ROOT))


class _Undo(Exception):
    pass


def timed(work, repeats: int) -> float:
    """Median milliseconds of ``work()``, each repeat in a transaction rolled back."""
    from django.db import transaction

    times = []
    for _ in range(repeats):
        try:
            with transaction.atomic():
                start = time.perf_counter()
                work()
                times.append((time.perf_counter() - start) * 1000)
                raise _Undo
        except _Undo:
            pass
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    slug = "big" if args.strategies == 1000 else f"big{args.strategies}"
    env = django_env(allow_sqlite=False)
    os.environ.update({k: v for k, v in env.items() if k in ("DJANGO_SETTINGS_MODULE", "DEBUG")})
    migrate(sys.executable, env)
    import django

    django.setup()
    from django.utils import timezone

    from allocations.audit_canonical import AuditRecord
    from allocations.audit_chain import GENESIS_HASH
    from allocations.db import portable, postgresql
    from allocations.models import AllocationRun, AuditEntry, Portfolio, Strategy
    from allocations.panel_snapshot import snapshot_encode
    from allocations.services.actors import Actor
    from allocations.services.runs import RebalanceRequest, allocation_run_create
    from tests.allocations.db.chain_support import chain_start

    if not Portfolio.objects.filter(slug=slug).exists():
        seed = ["manage.py", "seed_demo", "--portfolio", slug, "--strategies", str(args.strategies), "--days", "252"]
        subprocess.run([sys.executable, *seed, "--history-days", "0"], cwd=ROOT, env=env, check=True)
    portfolio = Portfolio.objects.get(slug=slug)
    if not AllocationRun.objects.filter(portfolio=portfolio).exists():
        request = RebalanceRequest(force_rebalance=True)
        allocation_run_create(portfolio=portfolio, actor=Actor.command("bench"), request=request)
    ids = list(Strategy.objects.filter(portfolio=portfolio).order_by("id").values_list("id", flat=True))
    runs = AllocationRun.objects.filter(portfolio=portfolio).order_by("-id")
    run = runs.exclude(idempotency_key="bench-db-paths").first()
    empty = AllocationRun.objects.filter(portfolio=portfolio, idempotency_key="bench-db-paths").first()
    if empty is None:  # a run without lines, for the line writers (kept: the bench database only)
        fields = ("policy", "method", "inputs_digest", "total_equity")
        empty = AllocationRun.objects.create(
            portfolio=portfolio, idempotency_key="bench-db-paths", **{f: getattr(run, f) for f in fields}
        )
    snapshot = postgresql.returns_snapshot_get(portfolio.pk, None) or portable.returns_snapshot_get(portfolio.pk, None)
    fields = snapshot_encode(snapshot) if snapshot else None
    fund_changes = AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.FUND_CHANGE).count()
    now = timezone.now()
    pairs = [(sid, Decimal("1000.00") + k) for k, sid in enumerate(ids)]
    records = [
        AuditRecord(kind=AuditEntry.Kind.FUND_CHANGE, strategy_id=sid, old_amount=Decimal("1.00"), new_amount=amount)
        for sid, amount in pairs
    ]
    head = portfolio.audit_chain_head
    n = len(ids)
    line_columns = {
        "run": [empty.pk] * n,
        "strategy": ids,
        **{name: [1.0 / n] * n for name in ("current_weight", "base_weight", "signal_weight", "smoothed_weight")},
        "target_weight": [1.0 / n] * n,
        "target_amount": [Decimal("1000.00")] * n,
        "momentum_weight": [0.5 / n] * n,
        "risk_contribution": [1.0 / n] * n,
        "binding_limit": [""] * n,
        "limit_excess": [0.0] * n,
        "flags": [[]] * n,
    }

    def audit(half):
        def work():
            start = chain_start(  # positions no chain holds: nothing collides, everything is rolled back
                portfolio.pk,
                now=now,
                actor_label="bench",
                prev_hash=head.last_hash if head else GENESIS_HASH,
                seq=10**9,
            )
            half.audit_rows_insert(records, start)

        return work

    def cold_snapshot_get():
        postgresql.SNAPSHOTS._entries.clear()
        postgresql.returns_snapshot_get(portfolio.pk, None)

    operations = {
        "returns_rows_since (252 days)": (
            lambda: postgresql.returns_rows_since(ids, None),
            lambda: portable.returns_rows_since(ids, None),
        ),
        "returns_snapshot_get (fetch)": (cold_snapshot_get, lambda: portable.returns_snapshot_get(portfolio.pk, None)),
        "returns_snapshot_get (kept)": (
            lambda: postgresql.returns_snapshot_get(portfolio.pk, None),
            lambda: portable.returns_snapshot_get(portfolio.pk, None),
        ),
        "momentum_of_run": (lambda: postgresql.momentum_of_run(run.pk), lambda: portable.momentum_of_run(run.pk)),
        f"fund_changes ({fund_changes} rows)": (
            lambda: postgresql.fund_changes(portfolio.pk, "UTC"),
            lambda: portable.fund_changes(portfolio.pk, "UTC"),
        ),
        "fund_amounts_update": (
            lambda: postgresql.fund_amounts_update(pairs, now),
            lambda: portable.fund_amounts_update(pairs, now),
        ),
        "audit_rows_insert": (audit(postgresql), audit(portable)),
        "allocation_lines_insert": (
            lambda: postgresql.allocation_lines_insert(line_columns),
            lambda: portable.allocation_lines_insert(line_columns),
        ),
        "returns_snapshot_store": (
            lambda: postgresql.returns_snapshot_store(portfolio.pk, fields, now),
            lambda: portable.returns_snapshot_store(portfolio.pk, fields, now),
        ),
    }
    print(f"PostgreSQL, portfolio {slug}: {n} strategies, median of {args.repeats} (ms)")
    print(f"{'operation':<34} {'fast':>9} {'portable':>9} {'gain':>7}")
    for name, (fast, twin) in operations.items():
        fast_ms, twin_ms = timed(fast, args.repeats), timed(twin, args.repeats)
        print(f"{name:<34} {fast_ms:9.2f} {twin_ms:9.2f} {twin_ms / fast_ms:6.1f}x")


if __name__ == "__main__":
    main()
