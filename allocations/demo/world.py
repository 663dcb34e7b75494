"""The demo's world: its sectors, its users (one per role), its first signals, and the actor that seeds it."""

from __future__ import annotations

from accounts import roles
from allocations.models import Portfolio
from allocations.services.actors import Actor
from allocations.services.signals import signal_create

SECTORS = [
    ("technology", "Technology"),
    ("financials", "Financials"),
    ("healthcare", "Healthcare"),
    ("energy", "Energy"),
    ("consumer", "Consumer"),
    ("industrials", "Industrials"),
    ("utilities", "Utilities"),
    ("crypto", "Cryptocurrency"),
]

DEMO_USERS = [
    ("admin", roles.ADMINISTRATOR),
    ("risk", roles.RISK_OFFICER),
    ("risk2", roles.RISK_OFFICER),
    ("pm", roles.PORTFOLIO_MANAGER),
    ("viewer", roles.VIEWER),
    ("integration", roles.INTEGRATION),
]

DEMO_SIGNALS = (("technology", "BUY", 0.8), ("energy", "SELL", 0.6), ("healthcare", "HOLD", 0.5))

ACTOR = Actor.command("seed_demo")


def signals_create(portfolio: Portfolio, signals, *, source: str) -> None:
    """One signal per (sector code, action, confidence), pushed by the demo's actor."""
    for code, action, confidence in signals:
        signal_create(
            portfolio=portfolio, actor=ACTOR, sector=code, action=action, confidence=confidence, source=source
        )
