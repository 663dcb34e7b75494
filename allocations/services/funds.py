"""The specification's Strategy Fund Manager, with persistence and an audit row per change.

Amounts are decimals to the cent. Every change locks the portfolio, writes the fund and its
audit row in one transaction, or raises ``DomainError`` and writes nothing; the funds never add
up to more than the equity (a change that would raise them past it is refused).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext

from django.db import transaction
from django.db.models import Sum

from allocations import db
from allocations.clock import now as clock_now
from allocations.errors import DomainError
from allocations.models import AuditEntry, Fund, Portfolio, Strategy
from allocations.money import CENT, to_money

from .actors import Actor
from .audit import AuditRecord, audit_append_many
from .locks import portfolio_lock


def _strategy_of(portfolio: Portfolio, strategy: Strategy | str) -> Strategy:
    if isinstance(strategy, Strategy):
        if strategy.portfolio_id != portfolio.pk:
            raise DomainError(f"strategy {strategy.code!r} is not in portfolio {portfolio.slug!r}", field="strategy")
        return strategy
    found = Strategy.objects.filter(portfolio=portfolio, code=strategy).first()
    if found is None:
        raise DomainError(f"unknown strategy {strategy!r} in portfolio {portfolio.slug!r}", field="strategy")
    return found


def _total_capital(portfolio: Portfolio) -> Decimal:
    total = Fund.objects.filter(strategy__portfolio=portfolio).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal("0")).quantize(CENT)


def funds_set_many(
    *,
    portfolio: Portfolio,
    amounts: dict[int, Decimal],
    actor: Actor,
    reason: str = "",
    run_id: int | None = None,
    step_id: int | None = None,
    known: dict[int, Decimal] | None = None,
    clock=None,
) -> list[AuditEntry]:
    """Set the funds of many strategies (by strategy id) at once; one audit row per changed fund.

    Amounts must already be validated money (``to_money``). Each audit row's ``total_capital``
    is the portfolio's total right after that row's change, as if the changes were made one by one;
    decreases come first, so no row shows more capital than the book ends with or started with.

    ``known``: every fund of the portfolio (strategy id -> amount) as the caller read it under the
    portfolio lock it still holds (a rebalance reads them to decide); they are not read again.
    """
    with transaction.atomic():
        equity = portfolio_lock(portfolio.pk).total_equity
        if known is not None:
            current = {sid: known[sid] for sid in amounts if sid in known}
            total = sum(known.values(), Decimal("0")).quantize(CENT)
        else:
            current = dict(
                Fund.objects.select_for_update()
                .filter(strategy_id__in=list(amounts), strategy__portfolio=portfolio)
                .values_list("strategy_id", "amount")
            )
            total = _total_capital(portfolio)
        before = total
        to_create, to_update, records = [], [], []
        decreases_first = sorted(amounts.items(), key=lambda item: item[1] - current.get(item[0], Decimal("0")))
        for strategy_id, new_amount in decreases_first:
            old_amount = current.get(strategy_id)
            if old_amount == new_amount:
                continue
            if old_amount is None:
                to_create.append({"strategy_id": strategy_id, "amount": new_amount, "updated_at": clock_now()})
                old_amount = Decimal("0.00")
            else:
                to_update.append((strategy_id, new_amount))
            total = total - old_amount + new_amount
            records.append(
                AuditRecord(
                    kind=AuditEntry.Kind.FUND_CHANGE,
                    reason=reason,
                    strategy_id=strategy_id,
                    run_id=run_id,
                    step_id=step_id,
                    old_amount=old_amount,
                    new_amount=new_amount,
                    total_capital=total,
                )
            )
        if total > equity and total > before:  # the database refuses it at commit on PostgreSQL; say why first
            raise DomainError(f"the funds would add up to {total}, above the equity {equity}", field="amount")
        db.bulk_insert(Fund, to_create)
        db.fund_amounts_update(to_update, clock_now())
        if clock is not None:  # a engine.LapClock
            clock.lap("funds")
        entries = audit_append_many(portfolio=portfolio, actor=actor, records=records)
        if clock is not None:
            clock.lap("funds_audit")
        return entries


def funds_scale_to_equity(*, portfolio: Portfolio, equity: Decimal, actor: Actor, reason: str) -> list[AuditEntry]:
    """Scale every fund by ``equity / invested`` when the funds add up to more than ``equity``.

    Each amount is rounded down to the cent, so the funds end at or below the equity (the residue is
    cash); one audited fund change per fund moved, in the caller's transaction. Nothing when the
    funds are within the equity.
    """
    with transaction.atomic():
        portfolio_lock(portfolio.pk)
        funds = dict(
            Fund.objects.select_for_update()
            .filter(strategy__portfolio=portfolio, amount__gt=0)
            .values_list("strategy_id", "amount")
        )
        invested = sum(funds.values(), Decimal("0"))
        if invested <= equity:
            return []
        with localcontext(prec=60):  # 20-digit amounts times a 20-digit equity, exact before the floor
            scaled = {
                sid: (amount * equity / invested).quantize(CENT, rounding=ROUND_FLOOR) for sid, amount in funds.items()
            }
        return funds_set_many(portfolio=portfolio, amounts=scaled, actor=actor, reason=reason)


def fund_set(*, portfolio: Portfolio, strategy: Strategy | str, amount, actor: Actor, reason: str = "") -> Fund:
    """Set the absolute amount of one strategy's fund."""
    money = to_money(amount)
    target = _strategy_of(portfolio, strategy)
    if target.status == Strategy.Status.RETIRED and money > 0:
        raise DomainError(f"strategy {target.code!r} is retired and cannot receive capital", field="strategy")
    funds_set_many(portfolio=portfolio, amounts={target.pk: money}, actor=actor, reason=reason)
    return Fund.objects.get(strategy=target)


def fund_adjust(*, portfolio: Portfolio, strategy: Strategy | str, ratio, actor: Actor, reason: str = "") -> Fund:
    """Multiply one strategy's fund by ``ratio`` (> 0): 1.1 adds 10 %, 0.5 halves it."""
    if isinstance(ratio, bool):
        raise DomainError("ratio must be a number", field="ratio")
    try:
        factor = Decimal(repr(ratio)) if isinstance(ratio, float) else Decimal(str(ratio))
    except (InvalidOperation, ValueError, TypeError):
        raise DomainError(f"ratio must be a number, got {ratio!r}", field="ratio") from None
    if not factor.is_finite() or factor <= 0:
        raise DomainError(f"ratio must be a finite number above 0, got {ratio}", field="ratio")
    target = _strategy_of(portfolio, strategy)
    with transaction.atomic():
        fund = Fund.objects.select_for_update().filter(strategy=target).first()
        if fund is None:
            raise DomainError(f"strategy {target.code!r} has no fund to adjust; set one first", field="strategy")
        new_amount = to_money(fund.amount * factor)
        funds_set_many(portfolio=portfolio, amounts={target.pk: new_amount}, actor=actor, reason=reason)
    fund.refresh_from_db()
    return fund
