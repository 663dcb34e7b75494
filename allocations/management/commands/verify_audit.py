from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from allocations.audit_chain import audit_key
from allocations.db.backup import backup_chain_heads, backup_heads_problems
from allocations.models import Portfolio
from allocations.selectors.audit import audit_verify
from allocations.services.audit_checkpoint import checkpoint_append, checkpoint_last, checkpoint_problems


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's keyed hash chain (AUDIT_HMAC_KEY), check each row's chain position "
        "(seq 1..n in id order) and compare each portfolio's chain with its chain head; exit non-zero naming "
        "the first altered row, or the chain whose end was removed. With the chains intact, exit non-zero "
        "naming the first row whose strategy, run or step does not exist (the database does not check them). "
        "--checkpoint FILE also compares each chain with the heads FILE saw last (a chain rolled back since "
        "fails) and appends today's heads; --backup FILE checks a dump's chain heads under the key, before restoring."
    )

    def add_arguments(self, parser):
        parser.add_argument("--portfolio", help="check one portfolio (default: all)")
        parser.add_argument(
            "--checkpoint",
            type=Path,
            help="a file outside the database (append-only JSON lines): compare with its last heads, then append",
        )
        parser.add_argument(
            "--backup",
            type=Path,
            help="a pg_dump file: check its chain heads are signed by AUDIT_HMAC_KEY (reads no database)",
        )

    def handle(self, *args, **options):
        if options["backup"]:
            return self._backup(options["backup"])
        if options["checkpoint"] and options["portfolio"]:
            raise CommandError("--checkpoint records every chain: leave out --portfolio")
        previous = self._checkpoint_previous(options["checkpoint"])
        portfolio = None
        if options["portfolio"]:
            portfolio = Portfolio.objects.filter(slug=options["portfolio"]).first()
            if portfolio is None:
                raise CommandError(f"unknown portfolio {options['portfolio']!r}")
        result = audit_verify(portfolio=portfolio)
        if not result.ok:
            row = result.first_bad
            if row is None:
                slug = Portfolio.objects.filter(pk=result.portfolio_id).values_list("slug", flat=True).first()
                raise CommandError(
                    f"audit trail broken for portfolio {slug} (id {result.portfolio_id}): {result.problem}; "
                    f"{result.checked} rows checked"
                )
            if result.orphans:
                rows = (
                    "1 row points at a missing row"
                    if result.orphans == 1
                    else f"{result.orphans} rows point at missing rows"
                )
                raise CommandError(
                    f"audit row {row.pk} (portfolio {row.portfolio_id}, {row.kind}, {row.created_at.isoformat()}): "
                    f"{result.problem}; {rows}, the first named; the chain of {result.checked} rows is intact"
                )
            raise CommandError(
                f"audit trail broken at row {row.pk} (portfolio {row.portfolio_id}, {row.kind}, "
                f"{row.created_at.isoformat()}): {result.problem}; {result.checked - 1} rows before it are intact"
            )
        self.stdout.write(f"audit trail intact: {result.checked} rows checked")
        if options["checkpoint"]:
            self._checkpoint(options["checkpoint"], previous)

    def _checkpoint_previous(self, path: Path | None):
        if path is None:
            return None
        try:
            return checkpoint_last(path)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--checkpoint: {exc}") from None

    def _checkpoint(self, path: Path, previous) -> None:
        if previous is not None and (problems := checkpoint_problems(previous)):
            raise CommandError(
                "audit trail rolled back since the last checkpoint: " + "; ".join(problems) + f" ({path}, not appended)"
            )
        try:
            checkpoint = checkpoint_append(path)
        except OSError as exc:
            raise CommandError(f"--checkpoint: cannot append to {path}: {exc}") from None
        since = f"consistent with the checkpoint of {previous.at}; " if previous else "first checkpoint; "
        self.stdout.write(f"{since}{len(checkpoint.heads)} chain heads appended to {path}")

    def _backup(self, path: Path) -> None:
        try:
            heads = backup_chain_heads(path)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--backup: {exc}") from None
        if problems := backup_heads_problems(heads, audit_key()):
            raise CommandError(
                f"{path}: {len(problems)} of {len(heads)} chain heads are not signed by this AUDIT_HMAC_KEY "
                f"({', '.join(problems[:5])}): the key is not the one the trail was written with, or the heads "
                "were altered; restore nothing"
            )
        self.stdout.write(f"{path}: {len(heads)} chain heads signed by AUDIT_HMAC_KEY")
