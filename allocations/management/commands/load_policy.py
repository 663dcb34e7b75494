import yaml
from django.core.management.base import CommandError

from allocations.errors import DomainError
from allocations.management.base import PortfolioFileCommand
from allocations.services.actors import Actor
from allocations.services.policies import policy_create_version, policy_from_yaml


class Command(PortfolioFileCommand):
    help = "Load a capital-allocation-config.yaml as a new policy version of a portfolio."

    file_help = "path of the YAML file"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--reason", default="", help="why the policy changes (recorded in the audit trail)")

    def handle(self, *args, **options):
        portfolio = self.portfolio(options)
        try:
            with open(options["file"], encoding="utf-8") as stream:
                document = yaml.safe_load(stream)
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise CommandError(f"{options['file']} is not valid YAML: {exc}") from None
        try:
            changes = policy_from_yaml(document)
            policy = policy_create_version(
                portfolio=portfolio,
                actor=Actor.command("load_policy"),
                reason=options["reason"] or f"loaded from {options['file']}",
                changes=changes,
            )
        except DomainError as exc:
            raise CommandError(f"{options['file']}: {exc.message}") from None
        self.stdout.write(f"portfolio {portfolio.slug}: policy version {policy.version} in force")
