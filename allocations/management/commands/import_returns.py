from django.core.management.base import CommandError

from allocations.errors import DomainError
from allocations.management.base import PortfolioFileCommand
from allocations.services.actors import Actor
from allocations.services.ingestion import returns_import, returns_rows_from_csv


class Command(PortfolioFileCommand):
    help = "Import daily strategy returns from a CSV file with columns date,strategy,return (all rows or none)."

    file_help = "path of the CSV file"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--allow-outliers",
            action="store_true",
            help="load returns beyond MAX_ABS_DAILY_RETURN (refused otherwise); the import's audit row records it",
        )

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
                portfolio=portfolio,
                rows=rows,
                actor=Actor.command("import_returns"),
                source=options["file"],
                allow_outliers=options["allow_outliers"],
            )
        except DomainError as exc:
            for line in exc.errors:
                self.stderr.write(line)
            raise CommandError(exc.message.split(". ", 1)[0] + ".") from None
        self.stdout.write(
            f"imported {summary.rows} returns for {summary.strategies} strategies "
            f"({summary.created} new, {summary.updated} replaced) from {summary.first_date} to {summary.last_date}"
        )
        if summary.outliers:
            self.stdout.write(f"{summary.outliers} returns beyond MAX_ABS_DAILY_RETURN loaded (--allow-outliers)")
        if summary.overwritten:
            self.stdout.write(f"{summary.overwritten} stored values changed:")
            for change in summary.overwrites:
                self.stdout.write(f"  {change.strategy} {change.date}: {change.old!r} -> {change.new!r}")
            if summary.overwritten > len(summary.overwrites):
                self.stdout.write(f"  and {summary.overwritten - len(summary.overwrites)} more")
