"""Typed errors of the allocation engine.

Every error the engine raises on purpose derives from :class:`EngineError`, itself a
``ValueError``, so callers can catch one class and turn it into a 4xx response. Messages
name the field or the problem.
"""

from __future__ import annotations

__all__ = [
    "EngineError",
    "InsufficientDataError",
    "InvalidInputError",
    "InvalidPolicyError",
    "RiskParityError",
]


class EngineError(ValueError):
    """Base class of every error raised by :mod:`allocations.engine`.

    Parameters
    ----------
    message : str
        What is wrong, in words.
    field : str, optional
        The input or policy field it is about (``returns``, ``policy.method``), for a caller that
        points at it (the API's 400, a form's field); ``None`` when it is about the request as a whole.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidInputError(EngineError):
    """An input array, label or signal is malformed (shape, NaN/inf, range)."""


class InvalidPolicyError(EngineError):
    """An :class:`~allocations.engine.policy.AllocationPolicy` field is out of range or unknown."""


class InsufficientDataError(EngineError):
    """No strategy can be estimated (every one lacks history or has zero variance)."""


class RiskParityError(EngineError):
    r"""The risk-parity solver did not reach the requested accuracy.

    :func:`~allocations.engine.allocate` catches it and falls back to budgeted inverse
    volatility (:math:`w_i \propto \sqrt{b_i}/\sigma_i`, so risk budgets still count),
    recording the fallback in ``explanation["fallbacks"]``.
    """
