from django.core.management.base import BaseCommand, CommandError

from allocations.models import Portfolio
from allocations.selectors.core import audit_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's keyed hash chain (AUDIT_HMAC_KEY), check each row's chain position "
        "(seq 1..n in id order) and compare each portfolio's chain with its chain head; exit non-zero naming "
        "the first altered row, or the chain whose end was removed. With the chains intact, exit non-zero "
        "naming the first row whose strategy, run or step does not exist (the database does not check them)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--portfolio", help="check one portfolio (default: all)")

    def handle(self, *args, **options):
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
