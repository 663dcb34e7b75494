from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from allocations.demo import HISTORY_DAYS, demo_seed


class Command(BaseCommand):
    help = "Seed a demo portfolio (synthetic returns, signals, funds), the portfolio demo-b and one user per role."

    def add_arguments(self, parser):
        parser.add_argument("--portfolio", default="demo", help="slug of the portfolio to seed (default: demo)")
        parser.add_argument("--strategies", type=int, default=40, help="number of strategies (default: 40)")
        parser.add_argument("--days", type=int, default=504, help="business days of returns (default: 504, 2 years)")
        parser.add_argument(
            "--history-days",
            type=int,
            default=HISTORY_DAYS,
            help=f"business days of daily runs ending yesterday, for the dashboard (default: {HISTORY_DAYS}; 0: none)",
        )
        parser.add_argument("--seed", type=int, default=7, help="random seed of the synthetic returns (default: 7)")

    def handle(self, *args, **options):
        if options["strategies"] < 1:
            raise CommandError("--strategies must be at least 1")
        if options["days"] < 2:
            raise CommandError("--days must be at least 2")
        report = demo_seed(
            slug=options["portfolio"],
            strategies=options["strategies"],
            days=options["days"],
            seed=options["seed"],
            history_days=max(0, options["history_days"]),
            password=settings.DEMO_PASSWORD,
        )
        for slug, outcome in report.portfolios.items():
            self.stdout.write(f"portfolio {slug}: {outcome}")
        self.stdout.write("demo users (password from DEMO_PASSWORD; existing users keep theirs):")
        for username, role, created in report.users:
            note = f"password {settings.DEMO_PASSWORD}" if created else "existing"
            self.stdout.write(f"  {username:<12} {role:<18} {note}")
