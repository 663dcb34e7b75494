"""Webhook endpoints of a portfolio (the order-execution system) and its outbox: events, deliveries, redeliver."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from allocations.api.permissions import APPROVE, MANAGE_POLICY, VIEW, actor_of, portfolio_for
from allocations.api.serializers import StrictInputSerializer
from allocations.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from allocations.selectors.jobs import endpoint_list, outbox_event_get, outbox_event_list
from allocations.selectors.portfolios import user_may
from allocations.services.webhook_delivery import outbox_event_redeliver
from allocations.services.webhook_endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)

from .base import Api, PortfolioScopedListApi, found_or_404, idempotent_post

# --- endpoints ---------------------------------------------------------------------------------


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text="HMAC-SHA256 key of X-CAE-Signature; shown in this answer only (null in an Idempotency-Key "
        "replay, which never holds it: rotate the secret to get a new one).",
    )


def without_the_secret(body):
    """What an Idempotency-Key replay may show: no secret (it is stored nowhere but encrypted on its row)."""
    return {**body, "secret": None} if isinstance(body, dict) and "secret" in body else body


class EndpointFilter(django_filters.FilterSet):
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = WebhookEndpoint
        fields = ["is_active"]


class WebhookCollectionApi(PortfolioScopedListApi):
    """The portfolio's webhook endpoints (GET), or a new one with its secret (POST, policy managers)."""

    model = WebhookEndpoint
    serializer_class = EndpointOutputSerializer
    filterset_class = EndpointFilter
    selector = staticmethod(endpoint_list)

    class InputSerializer(StrictInputSerializer):
        url = serializers.URLField(max_length=500)
        description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    @idempotent_post(
        replayable=without_the_secret,
        request=InputSerializer,
        responses={201: EndpointWithSecretSerializer},
        summary="Add a webhook endpoint (its secret is in this answer only)",
    )
    def post(self, request, slug, idempotency_key=None):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        endpoint = webhook_endpoint_create(portfolio=portfolio, actor=actor_of(request), **self.validated(request))
        return self.created(EndpointWithSecretSerializer(endpoint).data)


def _endpoint_or_404(portfolio, endpoint_id) -> WebhookEndpoint:
    return found_or_404(
        endpoint_list(portfolio=portfolio).filter(pk=endpoint_id).first(),
        f"no webhook endpoint {endpoint_id} in this portfolio",
    )


class WebhookDetailApi(Api):
    class InputSerializer(StrictInputSerializer):
        url = serializers.URLField(max_length=500, required=False)
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        is_active = serializers.BooleanField(required=False)

    @extend_schema(responses=EndpointOutputSerializer, summary="One webhook endpoint")
    def get(self, request, slug, endpoint_id):
        portfolio = portfolio_for(request, slug, VIEW)
        return Response(EndpointOutputSerializer(_endpoint_or_404(portfolio, endpoint_id)).data)

    @extend_schema(request=InputSerializer, responses=EndpointOutputSerializer, summary="Change or deactivate one")
    def patch(self, request, slug, endpoint_id):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        endpoint = webhook_endpoint_update(
            endpoint=_endpoint_or_404(portfolio, endpoint_id), actor=actor_of(request), **self.validated(request)
        )
        return Response(EndpointOutputSerializer(endpoint).data)


class WebhookRotateSecretApi(Api):
    @extend_schema(request=None, responses=EndpointWithSecretSerializer, summary="A new secret for one endpoint")
    def post(self, request, slug, endpoint_id):
        portfolio = portfolio_for(request, slug, MANAGE_POLICY)
        endpoint = webhook_endpoint_rotate_secret(
            endpoint=_endpoint_or_404(portfolio, endpoint_id), actor=actor_of(request)
        )
        return Response(EndpointWithSecretSerializer(endpoint).data)


# --- the outbox --------------------------------------------------------------------------------


RISK_OFFICERS_ONLY = "Risk officers (approve_run) only; null for everyone else."


class HidesTargetDetails(serializers.Serializer):
    # What a receiver answered (its status, its error text, where it is) maps the network behind
    # it: shown to risk officers only (``sees_targets`` in the context), null for other roles.
    target_details: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("sees_targets"):
            for name in self.target_details:
                data[name] = None
        return data


class AttemptSerializer(HidesTargetDetails):
    target_details = ("status_code", "error")

    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    status_code = serializers.IntegerField(allow_null=True, help_text=RISK_OFFICERS_ONLY)
    succeeded = serializers.BooleanField()
    error = serializers.CharField(allow_null=True, help_text=RISK_OFFICERS_ONLY)


class DeliverySerializer(HidesTargetDetails):
    target_details = ("url", "last_error")

    endpoint_id = serializers.IntegerField()
    url = serializers.URLField(source="endpoint.url", allow_null=True, help_text=RISK_OFFICERS_ONLY)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.values, help_text="dead: the dead letter.")
    attempts = serializers.IntegerField(help_text="Tries since the event was (re)queued.")
    next_attempt_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True, help_text=RISK_OFFICERS_ONLY)


class DeliveryWithAttemptsSerializer(DeliverySerializer):
    attempt_log = AttemptSerializer(many=True, help_text="Every POST, first to last.")


class EventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", help_text="The stable event id (X-CAE-Event-Id).")
    type = serializers.ChoiceField(source="kind", choices=OutboxEvent.Kind.values)
    created_at = serializers.DateTimeField()
    allocation_id = serializers.UUIDField(
        source="run.public_id", allow_null=True, default=None, help_text="None for funds scaled by an equity change."
    )
    step = serializers.IntegerField(source="step.index", allow_null=True, default=None)
    deliveries = DeliverySerializer(many=True)


class EventDetailSerializer(EventOutputSerializer):
    data = serializers.JSONField(source="payload", help_text="The event's body under `data`, as POSTed.")
    deliveries = DeliveryWithAttemptsSerializer(many=True)


class EventFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(field_name="kind", choices=OutboxEvent.Kind.choices)
    delivery_status = django_filters.ChoiceFilter(
        field_name="deliveries__status", choices=WebhookDelivery.Status.choices, distinct=True
    )

    class Meta:
        model = OutboxEvent
        fields = ["type", "delivery_status"]


class OutboxListApi(PortfolioScopedListApi):
    """The portfolio's allocation-change events, newest first, with their deliveries."""

    model = OutboxEvent
    serializer_class = EventOutputSerializer
    filterset_class = EventFilter
    selector = staticmethod(outbox_event_list)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["sees_targets"] = _sees_targets(self.request, self.portfolio())
        return context


def _sees_targets(request, portfolio) -> bool:
    return user_may(user=request.user, perm=APPROVE, portfolio=portfolio)


def _event_or_404(portfolio, event_id) -> OutboxEvent:
    return found_or_404(
        outbox_event_get(portfolio=portfolio, public_id=event_id), f"no outbox event {event_id} in this portfolio"
    )


class OutboxDetailApi(Api):
    @extend_schema(responses=EventDetailSerializer, summary="One event: its body, deliveries and every attempt")
    def get(self, request, slug, event_id):
        portfolio = portfolio_for(request, slug, VIEW)
        context = {"sees_targets": _sees_targets(request, portfolio)}
        return Response(EventDetailSerializer(_event_or_404(portfolio, event_id), context=context).data)


class OutboxRedeliverApi(Api):
    @idempotent_post(
        request=None,
        responses=EventDetailSerializer,
        summary="Send an event again to every active endpoint (risk officers)",
    )
    def post(self, request, slug, event_id, idempotency_key=None):
        portfolio = portfolio_for(request, slug, APPROVE)
        outbox_event_redeliver(event=_event_or_404(portfolio, event_id), actor=actor_of(request))
        context = {"sees_targets": True}  # APPROVE was required above
        return Response(EventDetailSerializer(_event_or_404(portfolio, event_id), context=context).data)
