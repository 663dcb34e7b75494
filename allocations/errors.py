"""Domain errors: what the caller did wrong, in words that name the field."""

from __future__ import annotations


class DomainError(ValueError):
    """A request the domain refuses. Nothing has been written when it is raised.

    ``field`` names the offending input (``amount``, ``strategy``, ``line 14: return``) so the
    API can answer a 400 that points at it.

    ``by_field`` maps each offending input to its messages when there are several (an import with
    bad rows: ``{"line 3": ["unknown strategy 'x'"], "line 4": [...]}``); the API lists each under its
    own field instead of every message under the first one's.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[str] | None = None,
        by_field: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors or [message]
        self.by_field = by_field

    def as_dict(self) -> dict:
        if self.by_field:
            return dict(self.by_field)
        return {self.field or "non_field_errors": self.errors}


class ConflictError(DomainError):
    """The request is valid but clashes with the current state (a run already decided, a lock held)."""


class PortfolioBusyError(ConflictError):
    """Another change of the same portfolio held its lock past the lock timeout: retry later."""


class NotPermitted(DomainError):
    """The actor may not do this: a role they do not hold on the portfolio, or four eyes (the one who
    asked never decides). The API answers 403, never 409: it is about who asks, not about the state."""
