"""The one declaration of the policy's fields: the model, the API, the YAML loader, the admin form and
the engine all follow it, so a range or a method exists in one place only."""

from __future__ import annotations

import math

import pytest
from django.db import IntegrityError, transaction

from allocations import engine
from allocations.api.views.policy import PolicyApi
from allocations.errors import DomainError
from allocations.models import AllocationPolicy, CovarianceEstimator, Method
from allocations.policy_fields import EDITABLE_FIELDS, POLICY_FIELDS, YAML_KEYS
from allocations.services.policies import policy_from_yaml, policy_validate_changes

BOUNDED = [f for f in POLICY_FIELDS.values() if f.bounds is not None]


def test_method_and_estimator_choices_are_the_engines():
    assert Method.values == list(engine.METHODS)
    assert CovarianceEstimator.values == list(engine.COVARIANCE_ESTIMATORS)
    assert POLICY_FIELDS["method"].choices == engine.METHODS


def test_engine_fields_take_the_engines_bounds_and_cover_every_engine_field():
    engine_names = {f.engine_name for f in POLICY_FIELDS.values() if f.engine_name}
    for field in POLICY_FIELDS.values():
        if field.engine_name and field.bounds is not None:
            assert field.bounds == engine.POLICY_BOUNDS[field.engine_name], field.name
    # what the policy row does not store is the engine's default
    stored_elsewhere = set(engine.POLICY_BOUNDS) - engine_names
    assert stored_elsewhere <= {"ewma_halflife"}


def test_every_check_constraint_of_the_model_is_the_declared_range():
    constraints = {c.name: c for c in AllocationPolicy._meta.constraints}
    for field in BOUNDED:
        constraint = constraints[f"policy_{field.name}_range"]
        lookups = dict(constraint.condition.children)
        low_lookup = f"{field.name}__gt" if field.bounds.low_open else f"{field.name}__gte"
        assert lookups == {low_lookup: field.bounds.low, f"{field.name}__lte": field.bounds.high}, field.name
    ranges = [name for name in constraints if name.endswith("_range")]
    assert sorted(ranges) == sorted(f"policy_{f.name}_range" for f in BOUNDED)


def test_the_api_serializer_fields_are_generated_from_the_declaration():
    fields = PolicyApi.InputSerializer().fields
    assert set(fields) - {"reason"} == set(EDITABLE_FIELDS)
    for field in BOUNDED:
        assert fields[field.name].min_value == field.bounds.low, field.name
        assert fields[field.name].max_value == field.bounds.high, field.name
    assert list(fields["method"].choices) == list(engine.METHODS)


def test_yaml_keys_cover_every_editable_field_once():
    keys = [field for section in YAML_KEYS.values() for field in section.values()]
    assert sorted(keys) == sorted(EDITABLE_FIELDS)


def _just_outside(field):
    bounds = field.bounds
    if bounds.low_open:
        return bounds.low
    if bounds.kind is int:
        return int(bounds.low) - 1
    return math.nextafter(bounds.low, -math.inf)


@pytest.mark.parametrize("field", BOUNDED, ids=lambda f: f.name)
def test_a_value_just_outside_is_refused_by_the_service_the_yaml_and_the_api(field):
    value = _just_outside(field)
    with pytest.raises(DomainError) as err:
        policy_validate_changes({field.name: value})
    assert err.value.field == field.name
    with pytest.raises(DomainError) as err:
        policy_from_yaml({field.section: {field.name: value}})
    assert err.value.field == f"{field.section}.{field.name}"
    serializer = PolicyApi.InputSerializer(data={field.name: value})
    assert not serializer.is_valid() and field.name in serializer.errors
    # the bounds themselves are allowed
    inside = field.bounds.high
    assert policy_validate_changes({field.name: inside})[field.name] == inside


@pytest.mark.django_db
@pytest.mark.parametrize("field", BOUNDED, ids=lambda f: f.name)
def test_the_database_refuses_a_value_outside_the_declared_range(field, portfolio):
    AllocationPolicy.objects.create(portfolio=portfolio, version=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        AllocationPolicy.objects.filter(portfolio=portfolio).update(**{field.name: _just_outside(field)})


@pytest.mark.parametrize(
    ("name", "valid"), [("method", engine.METHODS), ("covariance_estimator", engine.COVARIANCE_ESTIMATORS)]
)
def test_an_unknown_choice_is_refused_listing_the_valid_ones(name, valid):
    """Issue 21 item 18: the admin's form and the YAML loader validate here; the API's field lists them too."""
    with pytest.raises(ValueError) as caught:
        POLICY_FIELDS[name].validate("risk-parity")
    label = name.replace("_", " ")
    assert str(caught.value) == f"unknown {label} 'risk-parity'; expected one of {', '.join(sorted(valid))}"
