"""The outbox to order execution: allocation changes written with the funds, delivered to webhooks.

An applied step, an approved target and an equity cut that scales the funds down each write one
``OutboxEvent`` in the transaction that moves the funds (``services.schedules`` and
``services.equity`` call here), and one ``WebhookDelivery`` per active
endpoint of the portfolio. After commit a task (``allocations.deliver_webhooks``) POSTs the
event (``services.webhook_delivery``); beat's sweep retries what is due. The endpoints are kept
by ``services.webhook_endpoints``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from django.utils import timezone

from allocations.models import AllocationRun, OutboxEvent, Portfolio, TransitionStep, WebhookDelivery
from allocations.money import amounts_for_weights
from allocations.selectors.jobs import endpoint_ids_active
from allocations.selectors.strategies import strategy_codes_by_id

from .enqueue import enqueue_on_commit

DELIVER_TASK = "allocations.deliver_webhooks"


def outbox_event_write(
    *, portfolio: Portfolio, kind: str, run: AllocationRun | None, step: TransitionStep | None = None, payload: dict
) -> OutboxEvent:
    """Record one allocation change and a pending delivery to each active endpoint; deliver after commit."""
    event = OutboxEvent.objects.create(portfolio=portfolio, kind=kind, run=run, step=step, payload=payload)
    endpoints = endpoint_ids_active(portfolio_id=portfolio.pk)
    if endpoints:
        now = timezone.now()
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(event=event, endpoint_id=pk, next_attempt_at=now) for pk in endpoints]
        )
        enqueue_on_commit(DELIVER_TASK, event.pk)
    return event


def _names(run: AllocationRun, universe_ids: np.ndarray, codes: Sequence[str] | None) -> Sequence[str]:
    """The codes of ``universe_ids``: ``codes`` when the caller knows them (a rebalance read them), else read."""
    if codes is not None:
        return codes
    by_id = strategy_codes_by_id(portfolio=run.portfolio)
    return [by_id.get(int(i), str(int(i))) for i in universe_ids]


def outbox_target_approved(
    *,
    run: AllocationRun,
    schedule_id: int,
    universe_ids: np.ndarray,
    target: np.ndarray,
    steps_total: int,
    codes: Sequence[str] | None = None,
) -> OutboxEvent:
    """The event of a run whose target is approved (applied at once, or by a second risk officer).

    ``codes``: the strategies' codes in the order of ``universe_ids``, if the caller has them."""
    amounts = amounts_for_weights(target, run.total_equity)
    names = _names(run, universe_ids, codes)
    payload = {
        "allocation_id": str(run.public_id),
        "schedule_id": schedule_id,
        "steps_total": steps_total,
        "equity": str(run.total_equity),
        "target_weights": {code: float(w) for code, w in zip(names, target, strict=True)},
        "target_amounts": {code: str(a) for code, a in zip(names, amounts, strict=True)},
    }
    return outbox_event_write(portfolio=run.portfolio, kind=OutboxEvent.Kind.TARGET_APPROVED, run=run, payload=payload)


def outbox_step_applied(
    *,
    run: AllocationRun,
    step: TransitionStep,
    universe_ids: np.ndarray,
    weights: np.ndarray,
    amounts: list[Decimal],
    codes: Sequence[str] | None = None,
    steps_total: int | None = None,
) -> OutboxEvent:
    """The event of an applied step: every strategy's weight and amount after it (the state to reach).

    ``codes`` (in the order of ``universe_ids``) and ``steps_total`` are read unless the caller has them."""
    names = _names(run, universe_ids, codes)
    if steps_total is None:
        steps_total = TransitionStep.objects.filter(schedule_id=step.schedule_id).count()
    payload = {
        "allocation_id": str(run.public_id),
        "schedule_id": step.schedule_id,
        "step": step.index,
        "steps_total": steps_total,
        "due_date": step.due_date.isoformat(),
        "applied_at": step.applied_at.isoformat() if step.applied_at else None,
        "equity": str(run.total_equity),
        "weights": {code: float(w) for code, w in zip(names, weights, strict=True)},
        "amounts": {code: str(a) for code, a in zip(names, amounts, strict=True)},
    }
    return outbox_event_write(
        portfolio=run.portfolio, kind=OutboxEvent.Kind.STEP_APPLIED, run=run, step=step, payload=payload
    )


def outbox_funds_scaled(
    *, portfolio: Portfolio, equity_change_id: int, equity: Decimal, amounts: dict[int, Decimal]
) -> OutboxEvent:
    """The event of an equity cut that scaled the funds down: every strategy's amount and weight
    after it (``amounts``: strategy id -> fund), the state to reach, as a step's event gives it."""
    by_id = strategy_codes_by_id(portfolio=portfolio)
    ids = sorted(amounts)
    payload = {
        "equity_change": equity_change_id,
        "equity": str(equity),
        "weights": {by_id.get(i, str(i)): float(amounts[i] / equity) for i in ids},
        "amounts": {by_id.get(i, str(i)): str(amounts[i]) for i in ids},
    }
    return outbox_event_write(portfolio=portfolio, kind=OutboxEvent.Kind.FUNDS_SCALED, run=None, payload=payload)


def event_body(event: OutboxEvent) -> bytes:
    """The bytes POSTed for ``event``: the same on every try, so the signature and the id are stable."""
    document = {
        "id": str(event.public_id),
        "type": event.kind,
        "created_at": event.created_at.isoformat(),
        "portfolio": event.portfolio.slug,
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
