from django.core.management.base import CommandError

from allocations.errors import DomainError
from allocations.management.base import PortfolioFileCommand
from allocations.services.actors import Actor
from allocations.services.ingestion import returns_import, returns_rows_from_csv


class Command(PortfolioFileCommand):
    help = "Import daily strategy returns from a CSV file with columns date,strategy,return (all rows or none)."

    file_help = "path of the CSV file"

    def handle(self, *args, **options):
        portfolio = self.portfolio(options)
        try:
            with open(options["file"], newline="", encoding="utf-8") as stream:
                rows = returns_rows_from_csv(stream)
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{options['file']} is not UTF-8 text") from None
        except DomainError as exc:  # a missing or wrong header
            raise CommandError(f"{options['file']}: {exc.message}") from None
        try:
            summary = returns_import(
                portfolio=portfolio, rows=rows, actor=Actor.command("import_returns"), source=options["file"]
            )
        except DomainError as exc:
            for line in exc.errors:
                self.stderr.write(line)
            raise CommandError(exc.message.split(". ", 1)[0] + ".") from None
        self.stdout.write(
            f"imported {summary.rows} returns for {summary.strategies} strategies "
            f"({summary.created} new, {summary.updated} replaced) from {summary.first_date} to {summary.last_date}"
        )
