"""Daily strategy returns: list with filters; bulk ingestion as JSON or CSV."""

from __future__ import annotations

import csv
import re

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from allocations.api.parsers import CSVTextParser, StrictJSONParser
from allocations.api.permissions import INGEST, actor_of, portfolio_for
from allocations.errors import DomainError
from allocations.models import StrategyReturn
from allocations.selectors.strategies import strategy_return_list
from allocations.services.ingestion import MAX_REPORTED_ERRORS, ReturnRow, returns_import, returns_rows_from_text

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
    if not isinstance(data, dict) or set(data) - {"returns", "source", "allow_outliers"}:
        raise DomainError('expected an object {"returns": [{"date", "strategy", "return"}, ...]}', field="returns")
    rows = data.get("returns")
    if not isinstance(rows, list) or not rows:
        raise DomainError("returns must be a non-empty list of {date, strategy, return}", field="returns")
    if len(rows) > MAX_ROWS:
        raise DomainError(f"at most {MAX_ROWS} rows per request", field="returns")
    parsed = []
    wrong: dict[str, list[str]] = {}  # every malformed row, each under its own path (as the service lists its own)
    invalid = 0
    for index, row in enumerate(rows):
        where, problem = _row_shape_problem(index, row)
        if problem is not None:
            invalid += 1
            if len(wrong) < MAX_REPORTED_ERRORS:
                wrong[where] = [problem]
            continue
        parsed.append(ReturnRow(line=index + 1, date=row["date"], strategy=row["strategy"], value=row["return"]))
    if wrong:
        said = [f"{where}: {messages[0]}" for where, messages in wrong.items()]
        listed = f" (the first {len(wrong)} listed)" if invalid > len(wrong) else ""
        raise DomainError(
            f"{invalid} invalid row(s){listed}; nothing was imported. " + said[0],
            field=next(iter(wrong)),
            errors=said,
            by_field=wrong,
        )
    return parsed


def _row_shape_problem(index: int, row) -> tuple[str, str | None]:
    """``(path, why the row is not {date, strategy, return} of the right types)``, or ``(path, None)``."""
    if not isinstance(row, dict) or set(row) != {"date", "strategy", "return"}:
        return f"returns[{index}]", "must be an object with exactly date, strategy and return"
    value = row["return"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"returns[{index}].return", f"must be a number, got {_shown(value)}"
    if not isinstance(row["date"], str) or not isinstance(row["strategy"], str):
        return f"returns[{index}]", "date and strategy must be text"
    return f"returns[{index}]", None


_LINE = re.compile(r"\bline (\d+)\b")


def _json_positions(exc: DomainError) -> DomainError:
    """The service counts rows from 1 as lines; a JSON body's rows are ``returns[i]`` from 0 (in the
    field and in the messages: "already given on line 2" is ``returns[1]``)."""

    def where(text: str) -> str:
        return _LINE.sub(lambda m: f"returns[{int(m.group(1)) - 1}]", text)

    return type(exc)(  # a ConflictError (the portfolio busy) stays a 409
        where(exc.message),
        field=where(exc.field or "returns"),
        errors=[where(e) for e in exc.errors],
        by_field={where(field): [where(m) for m in messages] for field, messages in (exc.by_field or {}).items()}
        or None,
    )


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}

ALLOW_OUTLIERS = OpenApiParameter(
    "allow_outliers",
    bool,
    description="For a CSV body: load returns beyond MAX_ABS_DAILY_RETURN (refused otherwise); the import's "
    "audit row records it. A JSON body says it in its own allow_outliers field.",
)


def _allow_outliers(request, data) -> bool:
    """The CSV upload's ``?allow_outliers=true`` or the JSON body's ``allow_outliers``; nothing else means yes."""
    if isinstance(data, dict) and "allow_outliers" in data:
        value = data["allow_outliers"]
        if not isinstance(value, bool):
            raise DomainError(f"allow_outliers must be true or false, got {_shown(value)}", field="allow_outliers")
        return value
    raw = request.query_params.get("allow_outliers")
    if raw is None:
        return False
    if raw.strip().lower() not in _TRUE | _FALSE:
        raise DomainError(f"allow_outliers must be true or false, got {raw[:20]!r}", field="allow_outliers")
    return raw.strip().lower() in _TRUE


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


class ReturnIngestApi(Api):
    parser_classes = [StrictJSONParser, CSVTextParser]  # the CSV is the body: no file part, no form

    class InputSerializer(serializers.Serializer):
        class RowSerializer(serializers.Serializer):
            date = serializers.DateField()
            strategy = serializers.CharField(help_text="A strategy code of the portfolio.")
            # "return" is a Python keyword: declared below.

        returns = RowSerializer(many=True)
        source = serializers.CharField(required=False, max_length=100)
        allow_outliers = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Load returns beyond MAX_ABS_DAILY_RETURN (refused otherwise, naming the row); audited.",
        )

    InputSerializer.RowSerializer._declared_fields["return"] = serializers.FloatField(help_text="> -1")

    class OutputSerializer(serializers.Serializer):
        class OverwriteSerializer(serializers.Serializer):
            strategy = serializers.CharField()
            date = serializers.DateField()
            old = serializers.FloatField(help_text="The value stored before this import.")
            new = serializers.FloatField()

        rows = serializers.IntegerField()
        created = serializers.IntegerField()
        updated = serializers.IntegerField(help_text="Rows whose (strategy, date) was stored already.")
        strategies = serializers.IntegerField()
        first_date = serializers.DateField(allow_null=True)
        last_date = serializers.DateField(allow_null=True)
        overwritten = serializers.IntegerField(help_text="Of the updated rows, those whose stored value changed.")
        overwrites = OverwriteSerializer(many=True, help_text="The first overwritten values (at most 20).")
        outliers = serializers.IntegerField(help_text="Returns beyond MAX_ABS_DAILY_RETURN loaded (allow_outliers).")

    @idempotent_post(
        request={"application/json": InputSerializer, "text/csv": OpenApiTypes.STR},
        responses={201: OutputSerializer},
        parameters=[ALLOW_OUTLIERS],
        summary="Load daily returns (JSON, or a CSV body with the header date,strategy,return)",
    )
    def post(self, request, slug, idempotency_key=None):
        portfolio = portfolio_for(request, slug, INGEST)
        data = request.data
        allow_outliers = _allow_outliers(request, data)
        if isinstance(data, str):
            try:  # old Mac line ends count as line ends too
                rows = returns_rows_from_text(data.replace("\r\n", "\n").replace("\r", "\n"))
            except csv.Error as exc:
                raise DomainError(f"the CSV body cannot be read: {exc}", field="file") from None
            summary = returns_import(
                portfolio=portfolio,
                rows=rows,
                actor=actor_of(request),
                source="api csv",
                allow_outliers=allow_outliers,
            )
        else:
            rows = _rows_from_json(data)
            source = data.get("source") or "api json"
            if not isinstance(source, str) or len(source) > 100:
                raise DomainError("source must be text of at most 100 characters", field="source")
            try:
                summary = returns_import(
                    portfolio=portfolio,
                    rows=rows,
                    actor=actor_of(request),
                    source=source,
                    allow_outliers=allow_outliers,
                )
            except DomainError as exc:
                raise _json_positions(exc) from None
        return self.created(ReturnIngestApi.OutputSerializer(summary).data)


class ReturnCollectionApi(ReturnListApi, ReturnIngestApi):
    """GET lists returns (filter by strategy, from, to); POST loads them in bulk."""
