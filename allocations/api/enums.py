"""The closed sets the API answers, by the names its schema gives them (``ENUM_NAME_OVERRIDES``).

Settings cannot import models; the schema generator imports these names once the apps are ready.
"""

from __future__ import annotations

from allocations.models import (
    AllocationRun,
    AuditKind,
    CovarianceEstimator,
    DeliveryStatus,
    EquityChange,
    Method,
    OutboxEvent,
    RunStatus,
    SectorSignal,
    Strategy,
    TransitionSchedule,
    TransitionStep,
)

PLAN_STEP_STATUSES = ["planned", *TransitionStep.Status.values]

ENUM_NAMES = {
    "MethodEnum": Method.values,
    "CovarianceEstimatorEnum": CovarianceEstimator.values,
    "RunStatusEnum": RunStatus.values,
    "RunTriggerEnum": AllocationRun.Trigger.values,
    "StrategyStatusEnum": Strategy.Status.values,
    "StrategySettableStatusEnum": [Strategy.Status.ACTIVE.value, Strategy.Status.PAUSED.value],
    "ScheduleStatusEnum": TransitionSchedule.Status.values,
    "StepStatusEnum": TransitionStep.Status.values,
    "PlanStepStatusEnum": PLAN_STEP_STATUSES,  # an answer's schedule: "planned" where nothing is stored yet
    "EquityChangeStatusEnum": EquityChange.Status.values,
    "AuditKindEnum": AuditKind.values,
    "SignalActionEnum": SectorSignal.Action.values,
    "DeliveryStatusEnum": DeliveryStatus.values,
    "EventTypeEnum": OutboxEvent.Kind.values,
}
globals().update({name: values for name, values in ENUM_NAMES.items()})
