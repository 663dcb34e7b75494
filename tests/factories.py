"""factory_boy factories for the rows of the allocation domain and its users."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from allocations.models import AllocationPolicy, Portfolio, Sector, SectorSignal, Strategy, StrategyReturn


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests")


class PortfolioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portfolio

    name = factory.Sequence(lambda n: f"Portfolio {n}")
    slug = factory.Sequence(lambda n: f"portfolio-{n}")
    base_currency = "USD"
    total_equity = Decimal("1000000.00")


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"sector-{n}")
    name = factory.LazyAttribute(lambda s: s.code.title())


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    portfolio = factory.SubFactory(PortfolioFactory)
    code = factory.Sequence(lambda n: f"strat-{n:04d}")
    name = factory.LazyAttribute(lambda s: f"Strategy {s.code}")
    sector = factory.SubFactory(SectorFactory)


class StrategyReturnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StrategyReturn

    strategy = factory.SubFactory(StrategyFactory)
    date = factory.Sequence(lambda n: dt.date(2024, 1, 1) + dt.timedelta(days=n))
    value = 0.001


class SectorSignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SectorSignal

    portfolio = factory.SubFactory(PortfolioFactory)
    sector = factory.SubFactory(SectorFactory)
    action = SectorSignal.Action.BUY
    confidence = 0.5
    as_of = factory.LazyFunction(timezone.now)
    source = "tests"


class AllocationPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AllocationPolicy

    portfolio = factory.SubFactory(PortfolioFactory)
    version = factory.Sequence(lambda n: n + 1)
