"""What the admin tests share: the demo world with one password for every user, and a logged-in client."""

from __future__ import annotations

from django.test import Client

from allocations.demo import demo_seed
from allocations.models import Portfolio
from tests.allocations.demo_support import module_world as demo_module_world

DEMO_PASSWORD = "pw-demo"


def demo_seeded(*, strategies: int = 12, days: int = 60, seed: int = 11) -> Portfolio:
    """The demo world (portfolios demo and demo-b, a user per role, all with ``DEMO_PASSWORD``); its demo portfolio."""
    demo_seed(strategies=strategies, days=days, seed=seed, password=DEMO_PASSWORD)
    return Portfolio.objects.get(slug="demo")


def logged_in(username: str) -> Client:
    """A test client logged in as ``username`` of the demo world."""
    client = Client()
    assert client.login(username=username, password=DEMO_PASSWORD)
    return client


def module_world(setup=demo_seeded):
    """The admin tests' module world (every user with ``DEMO_PASSWORD``), or ``setup``'s."""
    return demo_module_world(setup)
