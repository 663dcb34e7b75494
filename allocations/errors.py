"""Domain errors: what the caller did wrong, in words that name the field."""

from __future__ import annotations


class DomainError(ValueError):
    """A request the domain refuses. Nothing has been written when it is raised.

    ``field`` names the offending input (``amount``, ``strategy``, ``line 14: return``) so the
    API can answer a 400 that points at it.
    """

    def __init__(self, message: str, *, field: str | None = None, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors or [message]

    def as_dict(self) -> dict:
        return {self.field or "non_field_errors": self.errors}


class ConflictError(DomainError):
    """The request is valid but clashes with the current state (a run already decided, a lock held)."""


class PortfolioBusyError(ConflictError):
    """Another change of the same portfolio held its lock past the lock timeout: retry later."""
