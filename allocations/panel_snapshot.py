"""A portfolio's stored returns panel (``ReturnsPanelSnapshot``) as arrays, and its row's bytes.

Pure numpy: the selectors read it, the ingestion service writes it, ``allocations.db`` moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class PanelSnapshot:
    """A portfolio's stored returns panel: every strategy with a return, every date with one."""

    ids: np.ndarray  # (N,) int64 strategy ids, ascending
    days: np.ndarray  # (T,) int64 day ordinals (``date.toordinal()``), ascending
    values: np.ndarray  # (T x N) float64, NaN where no return (read-only when decoded from the row)


def snapshot_decode(strategy_ids: bytes, days: bytes, values: bytes) -> PanelSnapshot:
    """The arrays of a ``ReturnsPanelSnapshot`` row, read in place (no copy)."""
    ids = np.frombuffer(strategy_ids, dtype="<i8")
    ordinals = np.frombuffer(days, dtype="<i4").astype(np.int64) + EPOCH_ORDINAL
    return PanelSnapshot(ids=ids, days=ordinals, values=np.frombuffer(values, dtype="<f8").reshape(ordinals.size, -1))


def snapshot_encode(snapshot: PanelSnapshot) -> dict[str, bytes]:
    """The ``ReturnsPanelSnapshot`` field values of ``snapshot``."""
    return {
        "strategy_ids": np.ascontiguousarray(snapshot.ids, dtype="<i8").tobytes(),
        "days": np.ascontiguousarray(snapshot.days - EPOCH_ORDINAL, dtype="<i4").tobytes(),
        "values": np.ascontiguousarray(snapshot.values, dtype="<f8").tobytes(),
    }
