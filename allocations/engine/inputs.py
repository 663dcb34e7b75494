"""Stage 1 of :func:`~allocations.engine.allocate`: validate the inputs into :class:`Inputs`.

Every problem is an :class:`~allocations.engine.errors.InvalidInputError` naming the argument
(and the first bad index where there is one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError
from .policy import AllocationPolicy, SectorSignal

__all__ = ["Inputs", "trailing_missing", "validate"]


@dataclass(frozen=True)
class Inputs:
    """Validated inputs of one run; arrays have shape (N,) unless stated.

    Attributes
    ----------
    returns : ndarray (T, N)
    sectors : ndarray of str
    sector_codes : ndarray of int, index into ``np.unique(sectors)``
    current : current weights, zeros by default
    previous, budgets, sharpe_override, volatility_override : ndarray or None
    signals : list of SectorSignal
    age_days : ndarray (N,), business days since each strategy's last return
    """

    returns: np.ndarray
    sectors: np.ndarray
    sector_codes: np.ndarray
    current: np.ndarray
    previous: np.ndarray | None
    budgets: np.ndarray | None
    sharpe_override: np.ndarray | None
    volatility_override: np.ndarray | None
    signals: list[SectorSignal]
    age_days: np.ndarray
    policy: AllocationPolicy

    @property
    def n(self) -> int:
        """Number of strategies N (columns of ``returns``)."""
        return self.returns.shape[1]


def _vector(name: str, value, n: int, *, allow_nan: bool = False, nonnegative: bool = True) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.shape != (n,):
        raise InvalidInputError(f"{name} must have shape ({n},), got {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        raise InvalidInputError(
            f"{name} contains {'infinite' if allow_nan else 'NaN or infinite'} values "
            f"(first at index {int(np.flatnonzero(bad)[0])})"
        )
    if nonnegative and (arr < 0).any():
        raise InvalidInputError(f"{name} contains negative values (first at index {int(np.flatnonzero(arr < 0)[0])})")
    return arr


def _optional_vector(name: str, value, n: int, *, zero_error: str = "", **checks) -> np.ndarray | None:
    """``None`` for an argument not given, else ``value`` checked by :func:`_vector`.

    ``checks`` are :func:`_vector`'s options. With ``zero_error``, a zero entry is refused with
    that message: a budget or a volatility must be strictly positive, and ``_vector`` has
    already refused negatives.
    """
    if value is None:
        return None
    arr = _vector(name, value, n, **checks)
    if zero_error and (arr == 0).any():
        raise InvalidInputError(zero_error)
    return arr


def _signals(signals) -> list[SectorSignal]:
    out = []
    for s in signals or ():
        if isinstance(s, SectorSignal):
            out.append(s)
        elif isinstance(s, Mapping):
            out.append(SectorSignal(**{k: s[k] for k in ("sector", "action", "confidence") if k in s}))
        else:
            raise InvalidInputError(f"signals must be SectorSignal objects or mappings, got {type(s).__name__}")
    return out


def trailing_missing(returns: np.ndarray) -> np.ndarray:
    """Rows with no observation at the end of each column (``T`` for a column never observed), shape (N,)."""
    t, n = returns.shape
    age = np.zeros(n)
    if t == 0:
        return age
    late = np.flatnonzero(np.isnan(returns[-1]))  # only these columns can have an age > 0
    if late.size:
        observed = ~np.isnan(returns[::-1, late])
        age[late] = np.where(observed.any(axis=0), observed.argmax(axis=0), t)
    return age


def _sectors(sectors, n: int) -> np.ndarray:
    sector_arr = np.asarray(sectors)
    if sector_arr.shape != (n,):
        raise InvalidInputError(f"sectors must have length {n}, got shape {sector_arr.shape}")
    if sector_arr.dtype.kind == "O" and sector_arr.size:  # e.g. an object array built by the services
        is_str = np.frompyfunc(lambda label: isinstance(label, str), 1, 1)(sector_arr).astype(bool)
        if is_str.all():
            sector_arr = sector_arr.astype(str)
    if sector_arr.dtype.kind != "U" or (sector_arr == "").any():
        raise InvalidInputError("sectors must be non-empty strings")
    return sector_arr


def validate(
    returns,
    sectors: Sequence[str],
    *,
    policy: AllocationPolicy | None,
    current_weights,
    signals,
    previous,
    budgets,
    sharpe_override,
    volatility_override,
    age_days,
) -> Inputs:
    """Check shapes, finiteness and ranges; see :func:`~allocations.engine.allocate` for the arguments."""
    policy = AllocationPolicy() if policy is None else policy
    if not isinstance(policy, AllocationPolicy):
        raise InvalidInputError(f"policy must be an AllocationPolicy, got {type(policy).__name__}")
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise InvalidInputError(f"returns must be a 2-D (days x strategies) array, got shape {r.shape}")
    n = r.shape[1]
    if n == 0:
        raise InvalidInputError("returns: the universe is empty (no strategy columns)", field="returns")
    if np.isinf(r).any():
        col = int(np.flatnonzero(np.isinf(r).any(axis=0))[0])
        raise InvalidInputError(f"returns contain infinite values (first in strategy column {col})")
    sector_arr = _sectors(sectors, n)
    current = np.zeros(n) if current_weights is None else _vector("current_weights", current_weights, n)
    if current.sum() > 1.0 + 1e-9:
        raise InvalidInputError(f"current_weights sum to {current.sum():.6g} > 1 (fractions of equity)")
    _, codes = np.unique(sector_arr, return_inverse=True)
    # Keyword arguments are evaluated in the order written: the optional vectors, then the ages and
    # the signals, are checked in this order, so the first bad one is the one reported.
    return Inputs(
        returns=r,
        sectors=sector_arr,
        sector_codes=codes,
        current=current,
        previous=_optional_vector("previous", previous, n, allow_nan=True),
        budgets=_optional_vector("budgets", budgets, n, zero_error="budgets must be strictly positive"),
        sharpe_override=_optional_vector("sharpe_override", sharpe_override, n, allow_nan=True, nonnegative=False),
        volatility_override=_optional_vector(
            "volatility_override",
            volatility_override,
            n,
            allow_nan=True,
            zero_error="volatility_override must be > 0 (or NaN to use the returns)",
        ),
        age_days=trailing_missing(r) if age_days is None else _vector("age_days", age_days, n),
        signals=_signals(signals),
        policy=policy,
    )
