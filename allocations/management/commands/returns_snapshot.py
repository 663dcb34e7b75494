from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from allocations.models import Portfolio
from allocations.services.locks import portfolio_lock
from allocations.services.returns_snapshot import returns_snapshot_check


class Command(BaseCommand):
    help = (
        "Check that each portfolio's returns snapshot (what the panel loader reads) equals its return rows; "
        "build a missing one and rebuild one that differs (--check: only report, exit 1 on a difference)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--portfolio", action="append", help="slug (repeatable; default: every portfolio)")
        parser.add_argument("--check", action="store_true", help="report only; change nothing")

    def handle(self, *args, **options):
        portfolios = Portfolio.objects.order_by("slug")
        if options["portfolio"]:
            portfolios = portfolios.filter(slug__in=options["portfolio"])
            missing = set(options["portfolio"]) - set(portfolios.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"unknown portfolio(s): {', '.join(sorted(missing))}")
        differing = []
        for portfolio in portfolios:
            with transaction.atomic():
                portfolio_lock(portfolio.pk)  # no import changes the rows while they are compared
                outcome = returns_snapshot_check(portfolio=portfolio, repair=not options["check"])
            if outcome == "differs":
                differing.append(portfolio.slug)
            done = "" if outcome == "equal" or options["check"] else ", rebuilt from the rows"
            self.stdout.write(f"portfolio {portfolio.slug}: snapshot {outcome}{done}")
        if differing and options["check"]:
            raise CommandError(f"returns snapshot differs from the rows: {', '.join(differing)}")
