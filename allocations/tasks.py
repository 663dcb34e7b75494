"""Celery tasks: thin, take ids, call services, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from allocations.services.actors import Actor
from allocations.services.schedules import transition_step_apply, transition_steps_due

logger = logging.getLogger(__name__)


@shared_task(name="allocations.apply_due_transition_steps")
def apply_due_transition_steps() -> int:
    """Apply every due step of the active schedules, in order; returns how many were applied."""
    applied = 0
    for step_id in transition_steps_due():
        if transition_step_apply(step_id=step_id, actor=Actor.system("beat:transition-steps")):
            applied += 1
    if applied:
        logger.info("applied %d due transition step(s)", applied)
    return applied
