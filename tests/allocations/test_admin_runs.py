"""A run's admin page shows its largest moves, not every line (issue 8 item 16).

With 1,000 strategies the page rendered every line as an inline: 3.8 s and 2.4 MB of HTML.
It shows the ``LARGEST_MOVES`` lines with the largest |target - current| and links to all the
run's lines (the line list, filtered by the run, paginated). The time is measured, not asserted
here: the number of line rows rendered is.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from allocations.admin.runs import LARGEST_MOVES
from allocations.models import AllocationLine, AllocationPolicy, AllocationRun
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from tests.allocations.admin_support import demo_seeded, logged_in

pytestmark = pytest.mark.django_db
STRATEGIES = LARGEST_MOVES + 30


@pytest.fixture
def run(db) -> AllocationRun:
    demo = demo_seeded(strategies=STRATEGIES, days=80, seed=3)
    AllocationPolicy.objects.filter(portfolio=demo).update(approval_threshold=0.0)
    pm = Actor.of_user(get_user_model().objects.get(username="pm"))
    run = allocation_run_create(portfolio=demo, actor=pm, request=RebalanceRequest(allocation_method="momentum")).run
    assert run.lines.count() == STRATEGIES
    return run


def _line_rows(html: str) -> list[str]:
    """The strategy codes of the line rows the page shows, in order."""
    return re.findall(r'<tr class="line-move"><td>([^<]+)</td>', html)


@pytest.mark.parametrize("username", ["admin", "risk"])
def test_a_runs_page_shows_its_largest_moves_and_links_to_every_line(run, username):
    client = logged_in(username)
    page = client.get(f"/admin/allocations/allocationrun/{run.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="lines-group"' not in html  # no inline of every line
    shown = _line_rows(html)
    assert len(shown) == LARGEST_MOVES
    moves = sorted(
        ((abs(line.target_weight - line.current_weight), line.strategy.code) for line in run.lines.all()),
        reverse=True,
    )
    smallest_shown = moves[LARGEST_MOVES - 1][0]
    assert {code for move, code in moves if move > smallest_shown} <= set(shown)
    by_code = dict((code, move) for move, code in moves)
    assert [by_code[code] for code in shown] == sorted((by_code[code] for code in shown), reverse=True)

    link = f"/admin/allocations/allocationline/?run__id__exact={run.pk}"
    assert link.replace("&", "&amp;") in html
    assert f"all {STRATEGIES} lines" in html
    listing = client.get(link)
    assert listing.status_code == 200
    assert f"{STRATEGIES} allocation lines" in listing.content.decode()


def test_the_line_list_filtered_by_run_shows_only_that_runs_lines(run):
    other = AllocationRun.objects.create(
        portfolio=run.portfolio,
        policy=run.policy,
        method=run.method,
        inputs_digest="x",
        total_equity=run.total_equity,
    )
    AllocationLine.objects.create(
        run=other,
        strategy=run.lines.first().strategy,
        current_weight=0,
        base_weight=0,
        signal_weight=0,
        smoothed_weight=0,
        target_weight=0,
        target_amount=0,
    )
    listing = logged_in("admin").get(f"/admin/allocations/allocationline/?run__id__exact={other.pk}")
    assert listing.status_code == 200
    assert "1 allocation line" in listing.content.decode()


def test_weights_read_as_percent_of_equity_in_the_run_and_line_lists_and_pages(run):
    """Issue 21 item 21: the admin showed 17-digit floats ("0.28531934567812345") for turnover,
    cash and every weight; now "28.53 %", as the dashboard and the run pages."""
    from allocations import display

    client = logged_in("risk")
    line = run.lines.order_by("-target_weight").first()
    pages = {
        "run list": client.get("/admin/allocations/allocationrun/").content.decode(),
        "run": client.get(f"/admin/allocations/allocationrun/{run.pk}/change/").content.decode(),
        "line list": client.get(f"/admin/allocations/allocationline/?run__id__exact={run.pk}").content.decode(),
        "line": client.get(f"/admin/allocations/allocationline/{line.pk}/change/").content.decode(),
    }
    assert display.percent(run.turnover) in pages["run list"] and display.percent(run.turnover) in pages["run"]
    assert (
        display.percent(line.target_weight) in pages["line list"]
        and display.percent(line.target_weight) in pages["line"]
    )
    currency = run.portfolio.base_currency
    assert display.money(run.total_equity, currency) in pages["run"]  # amounts in the portfolio's currency
    assert display.money(line.target_amount, currency) in pages["line"]
    funds = client.get("/admin/allocations/fund/").content.decode()
    assert re.search(r"\d,\d{3}\.\d\d " + currency, funds)
    assert display.when(run.created_at) in pages["run list"] and display.when(run.created_at).endswith(" UTC")
    for name, html in pages.items():
        assert repr(run.turnover) not in html and repr(line.target_weight) not in html, name
        assert not re.search(r">\s*-?0\.\d{7,}\s*<", html), name  # no raw fraction in any cell
