"""How a refusal of an unknown name (a method, an estimator, a sector) lists the names that are known.

A client that sent ``"risk-parity"`` or ``"Energy"`` learns the spelling from the answer instead of
from the source. The list is sorted and cut after ``MAX_LISTED`` names (sectors are rows, and a
universe may hold many).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_LISTED = 40


def expected_one_of(valid: Iterable[str]) -> str:
    """``"expected one of a, b, c"``; past ``MAX_LISTED`` names, ``"..., and 12 more"``."""
    names = sorted(valid)
    if not names:
        return "none is defined yet"
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return f"expected one of {shown}" + (f", and {more} more" if more > 0 else "")


def unknown_name(kind: str, value: object, valid: Iterable[str]) -> str:
    """``"unknown sector 'atlantis'; expected one of energy, finance, tech"``."""
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return f"unknown {kind} {shown}; {expected_one_of(valid)}"
