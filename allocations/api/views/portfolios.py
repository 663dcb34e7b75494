"""Portfolios the user may see."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from guardian.shortcuts import get_perms
from rest_framework import generics, serializers
from rest_framework.response import Response

from allocations.api.pagination import ApiPagination
from allocations.api.permissions import portfolio_for
from allocations.api.serializers import MoneyField
from allocations.models import Portfolio
from allocations.selectors.portfolios import portfolio_list_for_user
from capital_allocation.api_schema import ApiAutoSchema

from .base import Api


class PortfolioOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    base_currency = serializers.CharField()
    total_equity = MoneyField()
    timezone = serializers.CharField()
    created_at = serializers.DateTimeField()
    permissions = serializers.SerializerMethodField(help_text="What you may do on this portfolio.")

    def get_permissions(self, portfolio) -> list[str]:
        user = self.context["request"].user
        return sorted(p for p in get_perms(user, portfolio) if not p.startswith(("add_", "change_", "delete_")))


class PortfolioListApi(generics.ListAPIView):
    """The portfolios granted to you (a superuser: all)."""

    schema = ApiAutoSchema()
    pagination_class = ApiPagination
    serializer_class = PortfolioOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Portfolio.objects.none()
        return portfolio_list_for_user(user=self.request.user)


class PortfolioDetailApi(Api):
    OutputSerializer = PortfolioOutputSerializer

    @extend_schema(responses=PortfolioOutputSerializer, summary="One portfolio")
    def get(self, request, slug):
        portfolio = portfolio_for(request, slug)
        return Response(self.OutputSerializer(portfolio, context={"request": request}).data)
