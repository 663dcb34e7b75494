from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from allocations.errors import DomainError
from allocations.services.jobs import as_of_parse
from allocations.tasks import apply_due_transition_steps, rebalance_all_portfolios


class Command(BaseCommand):
    help = (
        "Catch up a missed day: send the rebalance sweep for the moment --as-of (what was due then runs now, "
        "for that date; each portfolio at most once per date) and the transition-step sweep to the worker of "
        "this database. Uses the settings and broker `make run` (or the service's environment) uses."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", required=True, help="an ISO timestamp, e.g. 2026-11-27T17:00:00+00:00")

    def handle(self, *args, **options):
        try:
            moment = as_of_parse(options["as_of"])
        except DomainError as exc:
            raise CommandError(f"--as-of: {exc}") from None
        if moment > timezone.now():
            raise CommandError(f"--as-of: {moment.isoformat()} is in the future; a catch-up is for a missed moment")
        try:
            sweep = rebalance_all_portfolios.delay(as_of=moment.isoformat())
            steps = apply_due_transition_steps.delay()
        except Exception as exc:  # kombu raises the transport's own errors: say which broker refused
            broker = settings.CELERY_BROKER_URL.split("@")[-1]  # never the password
            raise CommandError(f"cannot reach the broker ({broker}): {exc}") from None
        self.stdout.write(
            f"sent allocations.rebalance_all_portfolios as of {moment.isoformat()} (task {sweep.id}) and "
            f"allocations.apply_due_transition_steps (task {steps.id}); the admin's Job executions shows what they did"
        )
