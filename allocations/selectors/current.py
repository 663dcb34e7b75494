"""Reads of a portfolio's current state, answered from a cache that the portfolio's audit trail versions.

Every write that changes what these reads show appends to the audit trail, which moves the chain head
in the same transaction: the head (with the slug and equity the answers show) is a version of the
portfolio. An answer is cached under the version it was computed at and looked up by the version just
read, so a read never answers older than a change committed before it and nothing is invalidated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS
from knox.models import AuthToken, get_token_model

from allocations import db
from allocations.models import Portfolio

from .portfolios import portfolio_list_for_user

T = TypeVar("T")

CACHE_ALIAS = "answers"
# What the version is made of, in this order: the portfolio's id, then what its answers depend on.
_VERSION_FIELDS = ("id", "slug", "total_equity", "audit_chain_head__count", "audit_chain_head__last_hash")


@dataclass(frozen=True)
class PortfolioVersion:
    """A portfolio as of one committed state: its id and an opaque version of what its answers show.

    The version is the chain head's row count and last hash with the portfolio's equity, read in one
    query with the view permission (guardian's query, compiled once per user and slug: building it
    cost more than running it; ``db.prepared_query``). The last hash is an HMAC under the audit key,
    so a shared cache keeps two databases apart.
    """

    portfolio_id: int
    slug: str
    version: str


def _version(row: tuple) -> PortfolioVersion:
    portfolio_id, slug, equity, count, last_hash = row
    return PortfolioVersion(portfolio_id=portfolio_id, slug=slug, version=f"{count or 0}:{last_hash or ''}:{equity}")


def portfolio_version_for_user(*, user, slug: str) -> PortfolioVersion | None:
    """The version of portfolio ``slug`` if ``user`` may view it (``portfolios.portfolio_for_user``), else None.

    Guardian's query depends on nothing of the user but its id and superuser flag (the groups are a
    subquery, read when it runs), so it is prepared once per user and slug.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return None

    def make():
        return portfolio_list_for_user(user=user).filter(slug=slug).values_list(*_VERSION_FIELDS)[:1]

    rows = db.prepared_query(("portfolio", user.pk, bool(user.is_superuser), slug), make).rows()
    return _version(rows[0]) if rows else None


def portfolio_version_now(*, portfolio_id: int) -> PortfolioVersion | None:
    """The version of the portfolio as committed now (no permission check)."""
    rows = Portfolio.objects.filter(pk=portfolio_id).values_list(*_VERSION_FIELDS)
    return _version(rows[0]) if rows else None


def api_tokens_with_user(*, token_key: str) -> list[AuthToken]:
    """The knox tokens whose key (the token's first characters) is ``token_key``, each with its user
    joined: knox's own query (``filter(token_key=...).select_related("user")``), prepared once."""
    User, Token = get_user_model(), get_token_model()
    token_fields = [f.name for f in Token._meta.concrete_fields]
    user_fields = [f.attname for f in User._meta.concrete_fields]

    def make():
        names = [*token_fields, *(f"user__{name}" for name in user_fields)]
        return Token.objects.filter(token_key="-").values_list(*names)

    tokens = []
    split = len(token_fields)
    for row in db.prepared_query(("api-token",), make).rows([token_key]):
        token = Token.from_db(DEFAULT_DB_ALIAS, [f.attname for f in Token._meta.concrete_fields], row[:split])
        token.user = User.from_db(DEFAULT_DB_ALIAS, user_fields, row[split:])
        tokens.append(token)
    return tokens


def portfolio_cached(*, version: PortfolioVersion, name: str, build: Callable[[Portfolio], T]) -> T:
    """``build(portfolio)``, or what it returned for this portfolio at this version before.

    ``name`` tells the answers apart; ``build`` reads the portfolio's state and returns plain data
    (cached as it is, in ``CACHES["answers"]``: each process's memory by default). An answer takes
    several statements, so it is cached only when the version read again afterwards is unchanged: no
    change was committed in between, so every statement saw that version.
    """
    cache = caches[CACHE_ALIAS]
    key = f"cae:{name}:{version.portfolio_id}:{version.slug}:{version.version}"
    found = cache.get(key)
    if found is not None:
        return found
    value = build(Portfolio.objects.get(pk=version.portfolio_id))
    if portfolio_version_now(portfolio_id=version.portfolio_id) == version:
        cache.set(key, value)
    return value
