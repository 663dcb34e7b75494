"""Choices declared from lists kept elsewhere (the engine's methods and estimators, shared states),
so that a method, an estimator or a state exists in one place only."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import models

from allocations import engine
from allocations.policy_fields import ESTIMATOR_LABELS, METHOD_LABELS


def text_choices(
    qualname: str, values: Iterable[str], label: Callable[[str], str] = str.capitalize, *, module: str
) -> type[models.TextChoices]:
    """Choices of ``values``, each member named by its value upper-cased (``Method.HRP``,
    ``Status.ACTIVE``) and labelled by ``label(value)``.

    ``qualname`` is where the choices are reached from ``module`` (``"TransitionStep.Status"`` in
    ``allocations.models.runs``), as a class statement would name them, so that their members pickle."""
    members = [(value.upper(), (value, label(value))) for value in values]
    return models.TextChoices(qualname.rpartition(".")[2], members, module=module, qualname=qualname)


# The choices come from the engine's lists, so a method, estimator or signal action exists in one place only.
Method = text_choices("Method", engine.METHODS, lambda m: METHOD_LABELS.get(m, m), module=__name__)
CovarianceEstimator = text_choices(
    "CovarianceEstimator", engine.COVARIANCE_ESTIMATORS, lambda e: ESTIMATOR_LABELS.get(e, e), module=__name__
)
