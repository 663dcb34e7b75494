"""Versioned policies: defaults from the specification's YAML, a change is a new audited version."""

from __future__ import annotations

import datetime as dt
import math
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from accounts import roles
from accounts.services import portfolio_grant, user_ensure
from allocations.errors import ConflictError, DomainError, NotPermitted
from allocations.models import AllocationPolicy, AuditEntry, PolicyProposal
from allocations.selectors.audit import audit_verify
from allocations.selectors.policies import policy_current
from allocations.services.actors import Actor
from allocations.services.policies import (
    policy_change_request,
    policy_create_version,
    policy_from_yaml,
    policy_proposal_approve,
    policy_proposal_create,
    policy_proposal_reject,
    policy_set_method,
    policy_validate_changes,
)

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


def test_a_method_only_change_is_a_method_change(portfolio, officers):
    first, second = officers
    policy_create_version(portfolio=portfolio, actor=first)
    proposal = policy_set_method(portfolio=portfolio, method="risk_parity", actor=first, reason="calmer").proposal
    proposed = AuditEntry.objects.filter(portfolio=portfolio).order_by("-id").first()
    assert proposed.kind == AuditEntry.Kind.METHOD_CHANGE and proposed.payload["outcome"] == "proposed"
    policy_proposal_approve(proposal=proposal, actor=second, reason="agreed")
    policy = policy_current(portfolio=portfolio)
    assert (policy.version, policy.method) == (2, "risk_parity")
    row = AuditEntry.objects.filter(portfolio=portfolio).order_by("-id").first()
    assert row.kind == AuditEntry.Kind.METHOD_CHANGE and row.payload["outcome"] == "applied"
    assert row.payload["changes"] == {"method": {"old": "hybrid", "new": "risk_parity"}}


# --- four eyes on a policy change (issue 21, items 5 and 6) ---------------------------------


@pytest.fixture
def officers(portfolio):
    """Two risk officers of ``portfolio``."""
    made = []
    for name in ("officer-1", "officer-2"):
        user, _ = user_ensure(username=name, role=roles.RISK_OFFICER, password="x")
        portfolio_grant(user=user, portfolio=portfolio, role=roles.RISK_OFFICER)
        made.append(Actor.of_user(user))
    return made


@pytest.fixture
def in_force(portfolio, officers):
    return policy_create_version(portfolio=portfolio, actor=officers[0], reason="initial")


def test_switching_four_eyes_off_is_a_proposal_that_changes_nothing_yet(portfolio, officers, in_force):
    """Issue 21 item 5: PATCH {"approval_threshold": 2.0} by one risk officer applied at once, without a reason."""
    first, second = officers
    with pytest.raises(DomainError) as err:
        policy_change_request(portfolio=portfolio, actor=first, changes={"approval_threshold": 2.0})
    assert err.value.field == "reason"
    change = policy_change_request(
        portfolio=portfolio, actor=first, changes={"approval_threshold": 2.0}, reason="fewer approvals"
    )
    assert change.proposal is not None and change.policy == in_force
    assert policy_current(portfolio=portfolio) == in_force and in_force.approval_threshold == 0.25
    assert change.proposal.changes == {"approval_threshold": 2.0}
    with pytest.raises(NotPermitted) as err:
        policy_proposal_approve(proposal=change.proposal, actor=first, reason="mine")
    assert err.value.field == "approved_by"
    with pytest.raises(DomainError) as err:
        policy_proposal_approve(proposal=change.proposal, actor=second, reason=" ")
    assert err.value.field == "reason"
    assert policy_current(portfolio=portfolio) == in_force
    approved = policy_proposal_approve(proposal=change.proposal, actor=second, reason="agreed for the quarter")
    policy = policy_current(portfolio=portfolio)
    assert approved.status == PolicyProposal.Status.APPLIED and approved.applied_policy == policy
    assert (policy.version, policy.approval_threshold, policy.reason) == (2, 2.0, "fewer approvals")
    rows = AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.POLICY_CHANGE).order_by("seq")
    assert [(r.payload["outcome"], r.reason) for r in rows][1:] == [
        ("proposed", "fewer approvals"),
        ("applied", "agreed for the quarter"),
    ]
    assert audit_verify().ok


@pytest.mark.parametrize(
    "changes",
    [
        {"max_single_strategy_exposure": 0.1},
        {"max_sector_exposure": 0.2, "max_total_risk": 0.5},
        {"approval_threshold": 0.1},
        {"max_daily_change": 0.05},
        {"force_rebalance_threshold": 0.05},
        {"approval_threshold": 0.25, "max_total_risk": 0.7},  # one unchanged, one lower
    ],
)
def test_a_change_that_only_tightens_applies_at_once(portfolio, officers, in_force, changes):
    change = policy_change_request(portfolio=portfolio, actor=officers[0], changes=changes)
    assert change.proposal is None and change.policy.version == 2
    assert all(getattr(change.policy, name) == value for name, value in changes.items())
    assert not PolicyProposal.objects.exists()
    row = AuditEntry.objects.filter(portfolio=portfolio).order_by("-seq").first()
    assert row.payload["outcome"] == "applied" and row.payload["version"] == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"max_single_strategy_exposure": 0.3},  # a cap raised
        {"approval_threshold": 0.1, "max_total_risk": 0.9},  # one tighter, one looser
        {"method": "momentum"},
        {"lookback_period": 60},  # no safer direction
        {"transition_period_days": 10},
        {"rebalance_time": "09:00"},
    ],
)
def test_any_other_change_is_a_proposal(portfolio, officers, in_force, changes):
    change = policy_change_request(portfolio=portfolio, actor=officers[0], changes=changes, reason="why")
    assert change.proposal is not None and policy_current(portfolio=portfolio) == in_force
    policy_proposal_approve(proposal=change.proposal, actor=officers[1], reason="fine")
    policy = policy_current(portfolio=portfolio)
    assert policy.version == 2 and policy_validate_changes(changes) == {n: getattr(policy, n) for n in changes}


def test_a_newer_proposal_supersedes_the_waiting_one(portfolio, officers, in_force):
    first, second = officers
    old = policy_proposal_create(portfolio=portfolio, actor=first, changes={"max_total_risk": 0.9}, reason="a")
    new = policy_proposal_create(portfolio=portfolio, actor=second, changes={"max_total_risk": 0.95}, reason="b")
    old.refresh_from_db()
    assert old.status == PolicyProposal.Status.SUPERSEDED and new.status == PolicyProposal.Status.PENDING_APPROVAL
    outcomes = [
        r.payload["outcome"]
        for r in AuditEntry.objects.filter(portfolio=portfolio, kind=AuditEntry.Kind.POLICY_CHANGE).order_by("seq")
    ]
    assert outcomes[1:] == ["proposed", "superseded", "proposed"]
    with pytest.raises(ConflictError):
        policy_proposal_approve(proposal=old, actor=second, reason="late")


def test_approving_a_proposal_whose_base_is_no_longer_in_force_is_a_conflict(portfolio, officers, in_force):
    first, second = officers
    proposal = policy_proposal_create(portfolio=portfolio, actor=first, changes={"max_total_risk": 0.9}, reason="a")
    # a version written another way meanwhile (the YAML loader, an operator)
    policy_create_version(portfolio=portfolio, actor=Actor.command("load_policy"), changes={"lookback_period": 40})
    proposal.refresh_from_db()
    assert proposal.status == PolicyProposal.Status.SUPERSEDED  # a new version supersedes what waited
    PolicyProposal.objects.filter(pk=proposal.pk).update(status=PolicyProposal.Status.PENDING_APPROVAL)
    with pytest.raises(ConflictError) as err:
        policy_proposal_approve(proposal=proposal, actor=second, reason="ok")
    assert err.value.field == "base_version"
    assert policy_current(portfolio=portfolio).max_total_risk == 0.8


def test_a_rejected_proposal_leaves_the_policy_and_needs_a_reason(portfolio, officers, in_force):
    first, second = officers
    proposal = policy_proposal_create(portfolio=portfolio, actor=first, changes={"max_total_risk": 0.9}, reason="a")
    with pytest.raises(DomainError):
        policy_proposal_reject(proposal=proposal, actor=second, reason="")
    rejected = policy_proposal_reject(proposal=proposal, actor=second, reason="too risky")
    assert rejected.status == PolicyProposal.Status.REJECTED and rejected.decision_reason == "too risky"
    assert policy_current(portfolio=portfolio) == in_force


def test_only_risk_officers_propose_and_decide(portfolio, officers, in_force, actor):
    with pytest.raises(NotPermitted):
        policy_proposal_create(portfolio=portfolio, actor=actor, changes={"max_total_risk": 0.9}, reason="a")
    proposal = policy_proposal_create(
        portfolio=portfolio, actor=officers[0], changes={"max_total_risk": 0.9}, reason="a"
    )
    with pytest.raises(NotPermitted):
        policy_proposal_approve(proposal=proposal, actor=actor, reason="ok")


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
