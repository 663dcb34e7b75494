"""allocations/selectors/strategies.py: the sectors' codes."""

from __future__ import annotations

from allocations.selectors.strategies import sector_codes
from tests.factories import SectorFactory, StrategyFactory


def test_sector_codes(db):
    assert sector_codes() == set()
    for code in ("technology", "energy", "unused"):
        SectorFactory(code=code)
    StrategyFactory(sector=SectorFactory(code="technology"))  # get-or-create: no new sector
    assert sector_codes() == {"technology", "energy", "unused"}
