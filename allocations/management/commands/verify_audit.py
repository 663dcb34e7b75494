from django.core.management.base import BaseCommand, CommandError

from allocations.models import Portfolio
from allocations.selectors.core import audit_verify


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain; exit non-zero naming the first altered row."

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
            raise CommandError(
                f"audit trail broken at row {row.pk} (portfolio {row.portfolio_id}, {row.kind}, "
                f"{row.created_at.isoformat()}): {result.problem}; {result.checked - 1} rows before it are intact"
            )
        self.stdout.write(f"audit trail intact: {result.checked} rows checked")
