"""The order most reads list a portfolio's rows in: newest first."""

from __future__ import annotations

from django.db.models import QuerySet

from allocations.models import Portfolio


def newest_first(model, *, portfolio: Portfolio, related: tuple[str, ...] = (), by: str = "created_at") -> QuerySet:
    """The rows of ``model`` in ``portfolio``, ``related`` joined, newest ``by`` first (then the newest id)."""
    return model.objects.filter(portfolio=portfolio).select_related(*related).order_by(f"-{by}", "-id")
