"""What the commands that load one file into one portfolio share: their arguments and the portfolio lookup."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from allocations.models import Portfolio


class PortfolioFileCommand(BaseCommand):
    """``<file> [--portfolio SLUG]`` (default: demo); subclasses name the file in ``file_help``."""

    file_help = "path of the file"

    def add_arguments(self, parser):
        parser.add_argument("file", help=self.file_help)
        parser.add_argument("--portfolio", default="demo", help="slug of the portfolio (default: demo)")

    @staticmethod
    def portfolio(options) -> Portfolio:
        """The portfolio named by ``--portfolio``; an unknown slug stops the command."""
        portfolio = Portfolio.objects.filter(slug=options["portfolio"]).first()
        if portfolio is None:
            raise CommandError(f"unknown portfolio {options['portfolio']!r}")
        return portfolio
