"""The audit trail: a filtered list, and the same rows as CSV."""

from __future__ import annotations

import csv
import json

import django_filters
from django.db.models import Q
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import renderers, serializers
from rest_framework.settings import api_settings

from allocations.api.filters import UtcDateTimeFilter
from allocations.api.permissions import VIEW, portfolio_for
from allocations.api.serializers import MoneyField
from allocations.models import AuditEntry
from allocations.selectors.audit import audit_list

from .base import Api, PortfolioScopedListApi

CSV_TEXT = OpenApiResponse(
    OpenApiTypes.STR,
    description="CSV with a header row: id, created_at, kind, strategy, allocation_id, step, "
    "old_amount, new_amount, total_capital, actor, reason, payload (JSON), entry_hash, seq, recorded_at, "
    "effective_at.",
)
CSV_COLUMNS = [
    "id",
    "created_at",
    "kind",
    "strategy",
    "allocation_id",
    "step",
    "old_amount",
    "new_amount",
    "total_capital",
    "actor",
    "reason",
    "payload",
    "entry_hash",
    "seq",
    "recorded_at",
    "effective_at",
]


class AuditFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AuditEntry.Kind.choices)
    strategy = django_filters.CharFilter(field_name="strategy__code", help_text="A strategy code.")
    actor = django_filters.CharFilter(method="filter_actor", help_text="A username, or part of the actor label.")

    class Meta:
        model = AuditEntry
        fields = ["kind", "strategy", "actor"]

    def filter_actor(self, queryset, name, value):
        return queryset.filter(Q(actor__username=value) | Q(actor_label__icontains=value))


AuditFilter.base_filters["from"] = UtcDateTimeFilter(
    field_name="created_at", lookup_expr="gte", label="At or after (ISO 8601)."
)
AuditFilter.base_filters["to"] = UtcDateTimeFilter(
    field_name="created_at", lookup_expr="lte", label="At or before (ISO 8601)."
)


class AuditOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=AuditEntry.Kind.values)
    strategy = serializers.CharField(source="strategy.code", allow_null=True, default=None)
    allocation_id = serializers.UUIDField(source="run.public_id", allow_null=True, default=None)
    step = serializers.IntegerField(source="step_id", allow_null=True)
    old_amount = MoneyField(allow_null=True)
    new_amount = MoneyField(allow_null=True)
    total_capital = MoneyField(allow_null=True)
    actor = serializers.CharField(source="actor_label")
    reason = serializers.CharField()
    payload = serializers.DictField()
    entry_hash = serializers.CharField()
    seq = serializers.IntegerField(read_only=True, help_text="Position in the portfolio's audit chain: 1, 2, ...")
    recorded_at = serializers.DateTimeField(
        allow_null=True, help_text="When the database recorded the row (null: written before it kept this)."
    )
    effective_at = serializers.DateTimeField(
        allow_null=True, help_text="When the change took effect, where that is not when it was recorded."
    )


class CSVRenderer(renderers.BaseRenderer):
    """``?format=csv``: the view streams the rows itself; this renders only error bodies."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict):
            return "".join(f"{key},{json.dumps(value)}\n" for key, value in data.items()).encode()
        return b"" if data is None else str(data).encode()


class _Echo:
    def write(self, value):
        return value


# A spreadsheet opening the export runs a cell that starts with one of these as a formula
# (=HYPERLINK(...), +cmd|...): a reason, a strategy code or an actor label is text anyone with a
# write may choose. OWASP's CSV injection advice: a leading ' makes the cell text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """``value`` for a CSV cell: text that a spreadsheet would take for a formula gets a leading ``'``.
    Numbers are left as they are (no amount is negative, and a number is never run)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_rows(entries):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in entries.iterator(chunk_size=2000):
        yield writer.writerow(
            map(
                csv_cell,
                [
                    e.pk,
                    e.created_at.isoformat(),
                    e.kind,
                    e.strategy.code if e.strategy_id else "",
                    str(e.run.public_id) if e.run_id else "",
                    e.step_id or "",
                    e.old_amount if e.old_amount is not None else "",
                    e.new_amount if e.new_amount is not None else "",
                    e.total_capital if e.total_capital is not None else "",
                    e.actor_label,
                    e.reason,
                    json.dumps(e.payload, sort_keys=True),
                    e.entry_hash,
                    e.seq,
                    e.recorded_at.isoformat() if e.recorded_at else "",
                    e.effective_at.isoformat() if e.effective_at else "",
                ],
            )
        )


def audit_csv_response(entries, slug: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{slug}.csv"'
    return response


@extend_schema_view(
    get=extend_schema(
        responses={
            (200, "application/json"): AuditOutputSerializer(many=True),
            (200, "text/csv"): CSV_TEXT,
        },
        operation_id="v1_portfolios_audit_list",
    )
)
class AuditListApi(PortfolioScopedListApi):
    """The audit trail, newest first by chain position (``seq``); filter by from/to (time), strategy, actor, kind.

    ``?format=csv`` (or ``Accept: text/csv``) answers every matching row as CSV, unpaginated."""

    model = AuditEntry
    serializer_class = AuditOutputSerializer
    filterset_class = AuditFilter
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    def select(self, portfolio):
        return audit_list(portfolio=portfolio)

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return audit_csv_response(self.filter_queryset(self.get_queryset()), kwargs["slug"])
        return super().list(request, *args, **kwargs)


class AuditExportApi(Api):
    renderer_classes = [CSVRenderer]  # errors are problem details whatever was asked (the exception handler)

    @extend_schema(
        responses={(200, "text/csv"): CSV_TEXT},
        parameters=[
            OpenApiParameter(name, str, required=False) for name in ("from", "to", "strategy", "actor", "kind")
        ],
        operation_id="v1_portfolios_audit_export_csv",
        summary="The audit trail as CSV (same filters as the list)",
    )
    def get(self, request, slug):
        portfolio = portfolio_for(request, slug, VIEW)
        filterset = AuditFilter(request.query_params, queryset=audit_list(portfolio=portfolio), request=request)
        if not filterset.is_valid():
            from django_filters.utils import translate_validation

            raise translate_validation(filterset.errors)
        return audit_csv_response(filterset.qs, slug)
