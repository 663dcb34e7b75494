"""Strategies of a portfolio: create, update, retire. Each change is audited.

Retiring a strategy takes its capital away (its fund goes to 0 through ``funds_set_many``, with
the fund-change audit row) and keeps the strategy and its history; a retired strategy gets no
capital and cannot come back.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from django.db import transaction

from allocations.choices import unknown_name
from allocations.errors import ConflictError, DomainError
from allocations.models import AuditEntry, Fund, Portfolio, Sector, Strategy
from allocations.selectors.strategies import sector_codes
from allocations.text_checks import invisible_problem

from .actors import Actor
from .audit import audit_append
from .funds import funds_set_many
from .locks import portfolio_lock

CODE_PATTERN = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
EDITABLE = ("name", "sector", "asset_class", "risk_budget", "status")
SETTABLE_STATUSES = (Strategy.Status.ACTIVE, Strategy.Status.PAUSED)


def _text(value: Any, *, field: str, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise DomainError(f"{field} must be text, got {value!r}", field=field)
    value = value.strip()
    if required and not value:
        raise DomainError(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise DomainError(f"{field} must be at most {max_length} characters", field=field)
    if (problem := invisible_problem(value, field)) is not None:
        raise DomainError(problem, field=field)
    return value


def _sector(code: Any) -> Sector:
    if isinstance(code, Sector):
        return code
    sector = Sector.objects.filter(code=code).first() if isinstance(code, str) else None
    if sector is None:
        raise DomainError(unknown_name("sector", code, sector_codes()), field="sector")
    return sector


def _risk_budget(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise DomainError(f"risk_budget must be a number, got {value!r}", field="risk_budget")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise DomainError(f"risk_budget must be a finite number above 0, got {value}", field="risk_budget")
    return value


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "name":
            clean[name] = _text(value, field=name, max_length=200)
        elif name == "asset_class":
            clean[name] = _text(value, field=name, max_length=64)
        elif name == "sector":
            clean[name] = _sector(value)
        elif name == "risk_budget":
            clean[name] = _risk_budget(value)
        elif name == "status":
            if value not in SETTABLE_STATUSES:
                raise DomainError(
                    f"status must be one of {', '.join(SETTABLE_STATUSES)} (retiring has its own action); "
                    f"got {value!r}",
                    field="status",
                )
            clean[name] = value
        else:
            raise DomainError(f"unknown strategy field {name!r}", field=name)
    return clean


def _plain(strategy: Strategy, name: str) -> str:
    value = getattr(strategy, name)
    return value.code if isinstance(value, Sector) else str(value)


def strategy_create(
    *,
    portfolio: Portfolio,
    actor: Actor,
    code: str,
    name: str,
    sector: str | Sector,
    asset_class: str = "equity",
    risk_budget: float = 1.0,
    reason: str = "",
) -> Strategy:
    """Add an active strategy (with no capital yet) to the portfolio."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):  # match() let "x\n" through ($)
        raise DomainError(f"code must be 1 to 64 letters, digits, '-' or '_'; got {code!r}", field="code")
    fields = _clean({"name": name, "sector": sector, "asset_class": asset_class, "risk_budget": risk_budget})
    with transaction.atomic():
        portfolio_lock(portfolio.pk)
        if Strategy.objects.filter(portfolio=portfolio, code=code).exists():
            raise DomainError(f"portfolio {portfolio.slug!r} already has a strategy {code!r}", field="code")
        strategy = Strategy.objects.create(portfolio=portfolio, code=code, **fields)
        audit_append(
            portfolio=portfolio,
            actor=actor,
            kind=AuditEntry.Kind.STRATEGY_CHANGE,
            strategy_id=strategy.pk,
            reason=reason or f"strategy {code} created",
            payload={"action": "create", **{n: _plain(strategy, n) for n in EDITABLE}},
        )
    return strategy


def strategy_update(*, strategy: Strategy, actor: Actor, changes: dict[str, Any], reason: str = "") -> Strategy:
    """Change a strategy's name, sector, asset class, risk budget or status (active / paused)."""
    clean = _clean(changes)
    with transaction.atomic():
        portfolio_lock(strategy.portfolio_id)
        strategy = Strategy.objects.select_for_update().select_related("sector", "portfolio").get(pk=strategy.pk)
        if strategy.status == Strategy.Status.RETIRED:
            raise ConflictError(f"strategy {strategy.code!r} is retired and cannot be changed", field="status")
        diff = {}
        for name, value in clean.items():
            old = _plain(strategy, name)
            setattr(strategy, name, value)
            if _plain(strategy, name) != old:
                diff[name] = {"old": old, "new": _plain(strategy, name)}
        if not diff:
            return strategy
        strategy.save(update_fields=list(clean))
        audit_append(
            portfolio=strategy.portfolio,
            actor=actor,
            kind=AuditEntry.Kind.STRATEGY_CHANGE,
            strategy_id=strategy.pk,
            reason=reason or f"strategy {strategy.code} updated",
            payload={"action": "update", "changes": diff},
        )
    return strategy


def strategy_retire(*, strategy: Strategy, actor: Actor, reason: str = "") -> Strategy:
    """Retire a strategy: status ``retired`` and its fund set to 0 (audited as a fund change)."""
    with transaction.atomic():
        portfolio_lock(strategy.portfolio_id)
        strategy = Strategy.objects.select_for_update().select_related("portfolio").get(pk=strategy.pk)
        if strategy.status == Strategy.Status.RETIRED:
            raise ConflictError(f"strategy {strategy.code!r} is already retired", field="status")
        old_status = strategy.status
        strategy.status = Strategy.Status.RETIRED
        strategy.save(update_fields=["status"])
        why = reason or f"strategy {strategy.code} retired"
        audit_append(
            portfolio=strategy.portfolio,
            actor=actor,
            kind=AuditEntry.Kind.STRATEGY_CHANGE,
            strategy_id=strategy.pk,
            reason=why,
            payload={"action": "retire", "changes": {"status": {"old": old_status, "new": "retired"}}},
        )
        fund = Fund.objects.filter(strategy=strategy).first()
        if fund is not None and fund.amount != 0:
            funds_set_many(
                portfolio=strategy.portfolio, amounts={strategy.pk: Decimal("0.00")}, actor=actor, reason=why
            )
    return strategy
