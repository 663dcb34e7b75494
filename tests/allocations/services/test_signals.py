"""allocations/services/signals.py called directly: a signal is stored with its audit row, or nothing is."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import IntegrityError

from allocations.errors import DomainError
from allocations.models import AuditEntry, SectorSignal
from allocations.selectors.audit import audit_verify
from allocations.selectors.panels import latest_signals
from allocations.services.signals import signal_create


def audit_rows(portfolio):
    return AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.DATA_IMPORT)


def test_a_signal_is_stored_and_audited(portfolio, strategies, actor):
    as_of = dt.datetime(2024, 3, 4, 15, 30, tzinfo=dt.UTC)
    signal = signal_create(
        portfolio=portfolio, actor=actor, sector="energy", action="SELL", confidence=0.35, as_of=as_of, source="desk"
    )
    row = SectorSignal.objects.get()
    assert row.pk == signal.pk and row.portfolio == portfolio and row.sector.code == "energy"
    assert (row.action, row.confidence, row.as_of, row.source) == ("SELL", 0.35, as_of, "desk")
    entry = audit_rows(portfolio).get()
    assert entry.actor == actor.user and entry.actor_label == actor.label
    assert entry.reason == "sector signal from desk"
    assert entry.payload == {
        "signal": signal.pk,
        "sector": "energy",
        "action": "SELL",
        "confidence": 0.35,
        "as_of": "2024-03-04T15:30:00+00:00",
    }
    assert audit_verify().ok


def test_the_stored_signal_is_what_the_next_rebalance_reads(portfolio, strategies, actor):
    now = dt.datetime(2024, 3, 4, 15, 30, tzinfo=dt.UTC)
    signal_create(portfolio=portfolio, actor=actor, sector="technology", action="BUY", confidence=0.2, as_of=now)
    signal_create(
        portfolio=portfolio,
        actor=actor,
        sector="technology",
        action="HOLD",
        confidence=0.9,
        as_of=now + dt.timedelta(hours=1),
    )
    got = latest_signals(portfolio=portfolio, since=now - dt.timedelta(days=1))
    assert got == {
        "technology": {
            "sector": "technology",
            "action": "HOLD",
            "confidence": 0.9,
            "as_of": (now + dt.timedelta(hours=1)).isoformat(),
        }
    }
    assert audit_rows(portfolio).count() == 2


def test_without_as_of_the_signal_is_dated_now(portfolio, strategies, actor):
    now = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=now):
        signal = signal_create(portfolio=portfolio, actor=actor, sector="energy", action="BUY")
    signal.refresh_from_db()
    assert signal.as_of == now and signal.confidence == 1.0 and signal.source == ""
    assert audit_rows(portfolio).get().reason == "sector signal"


def test_a_naive_as_of_is_read_in_the_projects_time_zone(portfolio, strategies, actor, settings):
    assert settings.TIME_ZONE == "UTC"
    signal = signal_create(
        portfolio=portfolio, actor=actor, sector="energy", action="HOLD", as_of=dt.datetime(2024, 3, 4, 12, 0)
    )
    signal.refresh_from_db()
    assert signal.as_of == dt.datetime(2024, 3, 4, 12, 0, tzinfo=dt.UTC)
    assert audit_rows(portfolio).get().payload["as_of"] == "2024-03-04T12:00:00+00:00"


@pytest.mark.parametrize("sector", ["nowhere", "", "TECHNOLOGY"])
def test_an_unknown_sector_is_refused_and_nothing_is_written(portfolio, strategies, actor, sector):
    with pytest.raises(DomainError) as err:
        signal_create(portfolio=portfolio, actor=actor, sector=sector, action="BUY", confidence=0.5)
    assert err.value.field == "sector" and repr(sector) in str(err.value)
    assert not SectorSignal.objects.exists() and not audit_rows(portfolio).exists()


@pytest.mark.parametrize("confidence", [1.5, -0.1])
def test_a_confidence_outside_zero_one_writes_nothing(portfolio, strategies, actor, confidence):
    """The serializer refuses it first; should a caller pass it anyway, the database's check does."""
    with pytest.raises((DomainError, IntegrityError)):
        signal_create(portfolio=portfolio, actor=actor, sector="energy", action="BUY", confidence=confidence)
    assert not SectorSignal.objects.exists() and not audit_rows(portfolio).exists()


def test_the_audit_row_is_written_in_the_same_transaction(portfolio, strategies, actor):
    with mock.patch("allocations.services.signals.audit_append", side_effect=RuntimeError("audit down")):
        with pytest.raises(RuntimeError, match="audit down"):
            signal_create(portfolio=portfolio, actor=actor, sector="energy", action="BUY")
    assert not SectorSignal.objects.exists()
