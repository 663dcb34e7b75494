"""Milliseconds per named phase: the engine's stages and the rebalance service's phases alike."""

from __future__ import annotations

import time

__all__ = ["LapClock"]


class LapClock:
    """Time consecutive phases of one computation.

    ``lap(name)`` closes the phase that ran since the previous lap (or since the clock started)
    and adds its milliseconds to ``ms[name]``; ``total()`` records the milliseconds since the
    clock started as ``ms["total"]``.

    Parameters
    ----------
    decimals : int, optional
        Round what is kept to this many decimals (``None``: as measured).
    """

    def __init__(self, decimals: int | None = None) -> None:
        self.ms: dict[str, float] = {}
        self._decimals = decimals
        self._start = self._last = time.perf_counter()

    def _kept(self, value: float) -> float:
        return value if self._decimals is None else round(value, self._decimals)

    def lap(self, name: str) -> None:
        """Close the phase ``name``: the time since the previous lap is added to ``ms[name]``."""
        now = time.perf_counter()
        self.ms[name] = self._kept(self.ms.get(name, 0.0) + (now - self._last) * 1000)
        self._last = now

    def total(self) -> None:
        """Record the milliseconds since the clock started as ``ms["total"]``."""
        self.ms["total"] = self._kept((time.perf_counter() - self._start) * 1000)
