"""Versioned policies: defaults from the specification's YAML, a change is a new audited version."""

from __future__ import annotations

import datetime as dt
import math
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from allocations.errors import DomainError
from allocations.models import AllocationPolicy, AuditEntry
from allocations.selectors.core import audit_verify, policy_current
from allocations.services.policies import policy_create_version, policy_from_yaml, policy_set_method

pytestmark = pytest.mark.django_db

# The specification's capital-allocation-config.yaml (its indentation restored).
SPEC_YAML = """\
allocation:
  method: "hybrid"
  rebalance_frequency: "daily"
  force_rebalance_threshold: 0.1
risk_limits:
  max_single_strategy_exposure: 0.2
  max_sector_exposure: 0.3
  max_total_risk: 0.8
transition:
  transition_period_days: 5
  max_daily_change: 0.1
  min_change_threshold: 0.05
performance:
  lookback_period: 30
  momentum_factor: 0.3
  signal_decay_factor: 0.95
"""
SPEC_VALUES = {
    "method": "hybrid",
    "rebalance_frequency": "daily",
    "force_rebalance_threshold": 0.1,
    "max_single_strategy_exposure": 0.2,
    "max_sector_exposure": 0.3,
    "max_total_risk": 0.8,
    "transition_period_days": 5,
    "max_daily_change": 0.1,
    "min_change_threshold": 0.05,
    "lookback_period": 30,
    "momentum_factor": 0.3,
    "signal_decay_factor": 0.95,
}


def test_first_version_has_the_specification_defaults(portfolio, actor, risk_user):
    policy = policy_create_version(portfolio=portfolio, actor=actor, reason="initial")
    stored = AllocationPolicy.objects.get(pk=policy.pk)
    assert stored.version == 1
    for name, value in SPEC_VALUES.items():
        assert getattr(stored, name) == value, name
    assert stored.created_by == risk_user
    assert stored.rebalance_time == dt.time(16, 0)
    row = AuditEntry.objects.get(portfolio=portfolio)
    assert row.kind == AuditEntry.Kind.POLICY_CHANGE
    assert row.payload["version"] == 1
    assert row.reason == "initial"


def test_a_change_makes_the_next_version_and_an_audit_row(portfolio, actor):
    first = policy_create_version(portfolio=portfolio, actor=actor)
    second = policy_create_version(
        portfolio=portfolio,
        actor=actor,
        reason="tighter",
        changes={"max_sector_exposure": 0.25, "lookback_period": 60},
    )
    assert second.version == first.version + 1 == 2
    assert policy_current(portfolio=portfolio).pk == second.pk
    # The old version stays as it was; the new one keeps every field not changed.
    first.refresh_from_db()
    assert first.max_sector_exposure == 0.3 and first.lookback_period == 30
    assert second.max_sector_exposure == 0.25 and second.lookback_period == 60
    assert second.max_single_strategy_exposure == first.max_single_strategy_exposure
    row = AuditEntry.objects.filter(portfolio=portfolio).order_by("-id").first()
    assert row.kind == AuditEntry.Kind.POLICY_CHANGE
    assert row.payload["version"] == 2
    assert row.payload["changes"] == {
        "max_sector_exposure": {"old": "0.3", "new": "0.25"},
        "lookback_period": {"old": "30", "new": "60"},
    }
    assert row.reason == "tighter"
    assert audit_verify(portfolio=portfolio).ok


def test_a_method_only_change_is_a_method_change(portfolio, actor):
    policy_create_version(portfolio=portfolio, actor=actor)
    policy = policy_set_method(portfolio=portfolio, method="risk_parity", actor=actor, reason="calmer")
    assert (policy.version, policy.method) == (2, "risk_parity")
    row = AuditEntry.objects.filter(portfolio=portfolio).order_by("-id").first()
    assert row.kind == AuditEntry.Kind.METHOD_CHANGE
    assert row.payload["changes"] == {"method": {"old": "hybrid", "new": "risk_parity"}}


def test_no_change_makes_no_version(portfolio, actor):
    first = policy_create_version(portfolio=portfolio, actor=actor)
    again = policy_create_version(portfolio=portfolio, actor=actor, changes={"max_total_risk": 0.8})
    assert again.pk == first.pk
    assert AllocationPolicy.objects.filter(portfolio=portfolio).count() == 1
    assert AuditEntry.objects.filter(portfolio=portfolio).count() == 1


@pytest.mark.parametrize(
    "field, bad",
    [
        ("max_single_strategy_exposure", 0),
        ("max_single_strategy_exposure", 1.5),
        ("max_sector_exposure", -0.1),
        ("max_total_risk", math.nan),
        ("max_daily_change", math.inf),
        ("hybrid_blend", 1.01),
        ("approval_threshold", 2.5),
        ("momentum_factor", "0.3"),
        ("buy_multiplier", True),
        ("lookback_period", 1),
        ("lookback_period", 30.0),
        ("transition_period_days", 0),
        ("method", "magic"),
        ("covariance_estimator", "guess"),
        ("rebalance_frequency", "hourly"),
        ("rebalance_time", "25:00"),
        ("no_such_field", 1),
    ],
)
def test_bad_values_name_the_field_and_write_nothing(portfolio, actor, field, bad):
    policy_create_version(portfolio=portfolio, actor=actor)
    with pytest.raises(DomainError) as caught:
        policy_create_version(portfolio=portfolio, actor=actor, changes={field: bad})
    assert caught.value.field == field
    assert field in str(caught.value)
    assert AllocationPolicy.objects.filter(portfolio=portfolio).count() == 1
    assert AuditEntry.objects.filter(portfolio=portfolio).count() == 1


def test_policy_from_yaml_reads_the_specification_file():
    assert policy_from_yaml(yaml.safe_load(SPEC_YAML)) == SPEC_VALUES


def test_policy_from_yaml_reads_every_documented_extra_key():
    document = {
        "allocation": {
            "hybrid_blend": 0.7,
            "covariance_estimator": "ewma",
            "covariance_lookback": 126,
            "approval_threshold": 0.4,
            "rebalance_time": "15:30",
        },
        "performance": {"signal_window_days": 3, "buy_multiplier": 0.25, "sell_multiplier": 0.15},
    }
    assert policy_from_yaml(document) == {
        "hybrid_blend": 0.7,
        "covariance_estimator": "ewma",
        "covariance_lookback": 126,
        "approval_threshold": 0.4,
        "rebalance_time": dt.time(15, 30),
        "signal_window_days": 3,
        "buy_multiplier": 0.25,
        "sell_multiplier": 0.15,
    }


@pytest.mark.parametrize(
    "text, field",
    [
        ("risk_limits:\n  max_gross_leverage: 2\n", "risk_limits.max_gross_leverage"),
        ("allocation:\n  methd: hybrid\n", "allocation.methd"),
        ("alocation:\n  method: hybrid\n", "alocation"),
        ("risk_limits: 0.2\n", "risk_limits"),
        ("risk_limits:\n  max_single_strategy_exposure: 1.5\n", "risk_limits.max_single_strategy_exposure"),
        ("performance:\n  momentum_factor: .nan\n", "performance.momentum_factor"),
        ("- a list\n", "file"),
    ],
)
def test_policy_from_yaml_names_the_bad_key(text, field):
    with pytest.raises(DomainError) as caught:
        policy_from_yaml(yaml.safe_load(text))
    assert caught.value.field == field
    assert field == "file" or field.split(".")[-1] in str(caught.value)


def _write(tmp_path, text: str):
    path = tmp_path / "capital-allocation-config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_policy_command_makes_a_version_from_the_file(tmp_path, portfolio, actor):
    policy_create_version(portfolio=portfolio, actor=actor, changes={"max_total_risk": 0.5, "method": "momentum"})
    out = StringIO()
    call_command("load_policy", _write(tmp_path, SPEC_YAML), portfolio=portfolio.slug, stdout=out)
    policy = policy_current(portfolio=portfolio)
    assert policy.version == 2
    for name, value in SPEC_VALUES.items():
        assert getattr(policy, name) == value, name
    assert "version 2" in out.getvalue()
    row = AuditEntry.objects.filter(portfolio=portfolio).order_by("-id").first()
    assert row.actor_label == "command:load_policy"
    assert "capital-allocation-config.yaml" in row.reason
    assert set(row.payload["changes"]) == {"max_total_risk", "method"}


def test_load_policy_command_refuses_a_bad_file(tmp_path, portfolio):
    path = _write(tmp_path, "risk_limits:\n  max_sector_exposure: 0\n")
    with pytest.raises(CommandError, match="risk_limits.max_sector_exposure"):
        call_command("load_policy", path, portfolio=portfolio.slug)
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command("load_policy", _write(tmp_path, "allocation: [unclosed\n"), portfolio=portfolio.slug)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_policy", str(tmp_path / "missing.yaml"), portfolio=portfolio.slug)
    with pytest.raises(CommandError, match="unknown portfolio"):
        call_command("load_policy", _write(tmp_path, SPEC_YAML), portfolio="nope")
    assert not AllocationPolicy.objects.exists()
    assert not AuditEntry.objects.exists()
