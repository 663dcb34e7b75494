"""Transition schedules: list, detail with steps, cancel."""

from __future__ import annotations

import django_filters
from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.permissions import APPROVE, VIEW, actor_of, portfolio_for
from allocations.api.serializers import StrictInputSerializer, WeightMapField, required_reason
from allocations.models import TransitionSchedule, TransitionStep
from allocations.selectors.runs import schedule_get, schedule_list
from allocations.selectors.strategies import strategy_codes_by_id
from allocations.services.schedules import transition_schedule_cancel

from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post


class ScheduleFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=TransitionSchedule.Status.choices)

    class Meta:
        model = TransitionSchedule
        fields = ["status"]


class ScheduleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    allocation_id = serializers.UUIDField(source="run.public_id")
    status = serializers.ChoiceField(choices=TransitionSchedule.Status.values)
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(source="closed_by.username", allow_null=True, default=None)
    close_reason = serializers.CharField()
    steps_total = serializers.IntegerField()
    steps_applied = serializers.IntegerField()


def _with_counts(queryset):
    return queryset.annotate(
        steps_total=Count("steps"),
        steps_applied=Count("steps", filter=Q(steps__status=TransitionStep.Status.APPLIED)),
    )


class ScheduleListApi(PortfolioScopedListApi):
    """The portfolio's transition schedules, newest first (filter by status)."""

    model = TransitionSchedule
    serializer_class = ScheduleOutputSerializer
    filterset_class = ScheduleFilter

    def select(self, portfolio):
        return _with_counts(schedule_list(portfolio=portfolio))


class StepSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    due_date = serializers.DateField()
    status = serializers.ChoiceField(choices=TransitionStep.Status.values)
    applied_at = serializers.DateTimeField(allow_null=True)
    applied_by = serializers.CharField()
    weights = WeightMapField(help_text="strategy code -> weight of equity after this step.")


def _schedule_or_404(portfolio, schedule_id) -> TransitionSchedule:
    return found_or_404(
        _with_counts(schedule_list(portfolio=portfolio)).filter(pk=schedule_id).first(),
        f"no schedule {schedule_id} in this portfolio",
    )


def _detail(portfolio, schedule) -> dict:
    codes = strategy_codes_by_id(portfolio=portfolio)
    steps = schedule_get(portfolio=portfolio, schedule_id=schedule.pk).steps.all()
    return {
        **ScheduleOutputSerializer(schedule).data,
        "steps": [
            {
                **StepSerializer(step).data,
                "weights": WeightMapField().to_representation(
                    {codes.get(int(sid), str(sid)): w for sid, w in step.weights.items()}
                ),
            }
            for step in sorted(steps, key=lambda s: s.index)
        ],
    }


class ScheduleDetailApi(Api):
    class OutputSerializer(ScheduleOutputSerializer):
        steps = StepSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="One schedule with its steps")
    def get(self, request, slug, schedule_id):
        portfolio = portfolio_for(request, slug, VIEW)
        return Response(_detail(portfolio, _schedule_or_404(portfolio, schedule_id)))


class ScheduleCancelApi(Api):
    class InputSerializer(StrictInputSerializer):
        reason = required_reason()

    @idempotent_post(
        request=InputSerializer,
        responses=ScheduleDetailApi.OutputSerializer,
        summary="Cancel an active schedule (its pending steps)",
    )
    def post(self, request, slug, schedule_id, idempotency_key=None):
        portfolio = portfolio_for(request, slug, APPROVE)
        schedule = _schedule_or_404(portfolio, schedule_id)
        transition_schedule_cancel(schedule=schedule, actor=actor_of(request), **self.validated(request))
        return Response(_detail(portfolio, _schedule_or_404(portfolio, schedule_id)))
