"""Daily strategy returns: list with filters; bulk ingestion as JSON or CSV."""

from __future__ import annotations

import csv
import re

import django_filters
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from allocations.api.parsers import CSVTextParser, StrictJSONParser
from allocations.api.permissions import INGEST, actor_of, portfolio_for
from allocations.errors import DomainError
from allocations.models import StrategyReturn
from allocations.selectors.core import strategy_return_list
from allocations.services.ingestion import ReturnRow, returns_import, returns_rows_from_text

from .base import Api, PortfolioScopedListApi, idempotent_post

MAX_ROWS = 500_000


class ReturnFilter(django_filters.FilterSet):
    strategy = django_filters.CharFilter(field_name="strategy__code", help_text="A strategy code.")

    class Meta:
        model = StrategyReturn
        fields = ["strategy"]


ReturnFilter.base_filters["from"] = django_filters.DateFilter(
    field_name="date", lookup_expr="gte", label="On or after this date (YYYY-MM-DD)."
)
ReturnFilter.base_filters["to"] = django_filters.DateFilter(
    field_name="date", lookup_expr="lte", label="On or before this date (YYYY-MM-DD)."
)


class ReturnOutputSerializer(serializers.Serializer):
    strategy = serializers.CharField(source="strategy.code")
    date = serializers.DateField()
    value = serializers.FloatField(help_text="Daily return; 0.01 is +1 %.")


class ReturnListApi(PortfolioScopedListApi):
    model = StrategyReturn
    serializer_class = ReturnOutputSerializer
    filterset_class = ReturnFilter
    selector = staticmethod(strategy_return_list)


def _rows_from_json(data) -> list[ReturnRow]:
    if not isinstance(data, dict) or set(data) - {"returns", "source"}:
        raise DomainError('expected an object {"returns": [{"date", "strategy", "return"}, ...]}', field="returns")
    rows = data.get("returns")
    if not isinstance(rows, list) or not rows:
        raise DomainError("returns must be a non-empty list of {date, strategy, return}", field="returns")
    if len(rows) > MAX_ROWS:
        raise DomainError(f"at most {MAX_ROWS} rows per request", field="returns")
    parsed = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != {"date", "strategy", "return"}:
            raise DomainError(
                f"returns[{index}] must be an object with exactly date, strategy and return",
                field=f"returns[{index}]",
            )
        value = row["return"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DomainError(
                f"returns[{index}].return must be a number, got {value!r}", field=f"returns[{index}].return"
            )
        if not isinstance(row["date"], str) or not isinstance(row["strategy"], str):
            raise DomainError(f"returns[{index}]: date and strategy must be text", field=f"returns[{index}]")
        parsed.append(ReturnRow(line=index + 1, date=row["date"], strategy=row["strategy"], value=value))
    return parsed


_LINE = re.compile(r"^line (\d+)")


def _json_positions(exc: DomainError) -> DomainError:
    """The service counts rows from 1 as lines; a JSON body's rows are ``returns[i]`` from 0."""

    def where(text: str) -> str:
        return _LINE.sub(lambda m: f"returns[{int(m.group(1)) - 1}]", text)

    return DomainError(where(exc.message), field=where(exc.field or "returns"), errors=[where(e) for e in exc.errors])


class ReturnIngestApi(Api):
    parser_classes = [StrictJSONParser, CSVTextParser]  # the CSV is the body: no file part, no form

    class InputSerializer(serializers.Serializer):
        class RowSerializer(serializers.Serializer):
            date = serializers.DateField()
            strategy = serializers.CharField(help_text="A strategy code of the portfolio.")
            # "return" is a Python keyword: declared below.

        returns = RowSerializer(many=True)
        source = serializers.CharField(required=False, max_length=100)

    InputSerializer.RowSerializer._declared_fields["return"] = serializers.FloatField(help_text="> -1")

    class OutputSerializer(serializers.Serializer):
        rows = serializers.IntegerField()
        created = serializers.IntegerField()
        updated = serializers.IntegerField()
        strategies = serializers.IntegerField()
        first_date = serializers.DateField(allow_null=True)
        last_date = serializers.DateField(allow_null=True)

    @idempotent_post(
        request={"application/json": InputSerializer, "text/csv": OpenApiTypes.STR},
        responses={201: OutputSerializer},
        summary="Load daily returns (JSON, or a CSV body with the header date,strategy,return)",
    )
    def post(self, request, slug):
        portfolio = portfolio_for(request, slug, INGEST)
        data = request.data
        if isinstance(data, str):
            try:  # old Mac line ends count as line ends too
                rows = returns_rows_from_text(data.replace("\r\n", "\n").replace("\r", "\n"))
            except csv.Error as exc:
                raise DomainError(f"the CSV body cannot be read: {exc}", field="file") from None
            summary = returns_import(portfolio=portfolio, rows=rows, actor=actor_of(request), source="api csv")
        else:
            rows = _rows_from_json(data)
            source = data.get("source") or "api json"
            if not isinstance(source, str) or len(source) > 100:
                raise DomainError("source must be text of at most 100 characters", field="source")
            try:
                summary = returns_import(portfolio=portfolio, rows=rows, actor=actor_of(request), source=source)
            except DomainError as exc:
                raise _json_positions(exc) from None
        return self.created(ReturnIngestApi.OutputSerializer(summary).data)


class ReturnCollectionApi(ReturnListApi, ReturnIngestApi):
    """GET lists returns (filter by strategy, from, to); POST loads them in bulk."""
