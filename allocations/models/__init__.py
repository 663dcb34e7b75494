"""Tables of the allocation domain, a module per area: fields and constraints only.

Every range the domain promises is a database constraint, so no code path (a bulk update, a
shell session, a future service) can store a weight of 1.7 or a confidence of -0.2.
Writes go through ``allocations.services``; reads through ``allocations.selectors``.

Each model (and the choices callers name) is re-exported here, so ``from allocations.models import X``
does not depend on which module holds ``X``; importing this package registers every table.
"""

from allocations.models.audit import AUDIT_KINDS as AUDIT_KINDS
from allocations.models.audit import AuditChainHead as AuditChainHead
from allocations.models.audit import AuditEntry as AuditEntry
from allocations.models.audit import AuditEntryQuerySet as AuditEntryQuerySet
from allocations.models.audit import AuditKind as AuditKind
from allocations.models.audit import AuditTrailIsAppendOnly as AuditTrailIsAppendOnly
from allocations.models.choices import CovarianceEstimator as CovarianceEstimator
from allocations.models.choices import Method as Method
from allocations.models.idempotency import IdempotencyRecord as IdempotencyRecord
from allocations.models.jobs import DELIVERY_STATUSES as DELIVERY_STATUSES
from allocations.models.jobs import DeliveryAttempt as DeliveryAttempt
from allocations.models.jobs import DeliveryStatus as DeliveryStatus
from allocations.models.jobs import JobExecution as JobExecution
from allocations.models.jobs import OutboxEvent as OutboxEvent
from allocations.models.jobs import WebhookDelivery as WebhookDelivery
from allocations.models.jobs import WebhookEndpoint as WebhookEndpoint
from allocations.models.jobs import WorkerHeartbeat as WorkerHeartbeat
from allocations.models.policy import AllocationPolicy as AllocationPolicy
from allocations.models.policy import PolicyProposal as PolicyProposal
from allocations.models.portfolio import EquityChange as EquityChange
from allocations.models.portfolio import Fund as Fund
from allocations.models.portfolio import Portfolio as Portfolio
from allocations.models.portfolio import ReturnsPanelSnapshot as ReturnsPanelSnapshot
from allocations.models.portfolio import Sector as Sector
from allocations.models.portfolio import SectorSignal as SectorSignal
from allocations.models.portfolio import Strategy as Strategy
from allocations.models.portfolio import StrategyReturn as StrategyReturn
from allocations.models.runs import RUN_STATUSES as RUN_STATUSES
from allocations.models.runs import AllocationLine as AllocationLine
from allocations.models.runs import AllocationRun as AllocationRun
from allocations.models.runs import RunStatus as RunStatus
from allocations.models.runs import TransitionSchedule as TransitionSchedule
from allocations.models.runs import TransitionStep as TransitionStep
