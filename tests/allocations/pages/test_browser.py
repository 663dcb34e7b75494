"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Each test signs in through the form, waits for the page's own "drawn" mark (no fixed sleeps),
checks every chart's canvas has content, and fails on any console error. Screenshots go to
``var/screenshots/``. Without a browser the tests skip, except under CI (``CI=true``), where a
missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import WSGIServer
from django.db import connections
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from django.test.utils import modify_settings

from allocations.models import AllocationRun
from allocations.services.actors import Actor
from allocations.services.policies import policy_create_version

from .browser_support import launch_chromium, sign_in
from .conftest import pending_run, seed_small


@pytest.fixture(autouse=True, scope="module")
def _synchronous_orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still
    synchronous. Allowed for this module only, so no other test (or process it starts) inherits it."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CHARTS = [
    "chart-allocation",
    "chart-target",
    "chart-heatmap",
    "chart-trends",
    "chart-scatter",
    "chart-risk",
    "chart-schedule",
    "chart-equity",
]
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.django_db(transaction=True)

# The number of painted pixels of a chart's canvas (an empty canvas has none).
PAINTED = """id => {
  const canvas = document.querySelector('#' + id + ' canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 16) if (pixels[i] > 0) painted++;
  return painted;
}"""


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is required under CI and is not at {CHROMIUM} (apt-get install -y chromium)")
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium")
    if not (Path(settings.BASE_DIR) / "static" / "vendor" / "echarts.min.js").exists():
        pytest.fail("static/vendor/echarts.min.js is missing: `make install` (npm ci) copies it there")
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is required under CI (the dev extra installs it)")
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright, CHROMIUM)
        yield browser
        browser.close()


class Session:
    """One signed-in browser context that records console errors."""

    def __init__(self, browser, base_url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.base = base_url
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, username: str) -> None:
        sign_in(self.page, self.base, username, "demo")

    def dashboard(self, query: str = "") -> None:
        self.page.goto(f"{self.base}/portfolios/demo/{query}")
        self.page.wait_for_selector("body[data-drawn=true]")

    def painted(self) -> dict[str, int]:
        return {chart: self.page.evaluate(PAINTED, chart) for chart in CHARTS}

    def close(self) -> None:
        self.context.close()


class SerialLiveServerThread(LiveServerThread):
    """Answers one request at a time (and closes each connection), as Django's own single-threaded live server."""

    def _create_server(self, connections_override=None):
        return WSGIServer((self.host, self.port), QuietWSGIRequestHandler, allow_reuse_address=False)


@pytest.fixture
def live_url(transactional_db):
    """The live server of one test. On an in-memory SQLite database every server thread shares the
    test's one connection, so concurrent requests (the page fetches its charts' JSON in parallel)
    would interleave on it: there the server answers one request at a time. On PostgreSQL each
    request thread has its own connection, as in production."""
    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    thread_class = SerialLiveServerThread if shared else LiveServerThread
    for connection in shared.values():
        connection.inc_thread_sharing()
    thread = thread_class("127.0.0.1", StaticFilesHandler, connections_override=shared, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        with modify_settings(ALLOWED_HOSTS={"append": "127.0.0.1"}):
            yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()
        for connection in shared.values():
            connection.dec_thread_sharing()


@pytest.fixture
def session(browser, live_url):
    sessions: list[Session] = []

    def open_session(username: str) -> Session:
        s = Session(browser, live_url)
        s.sign_in(username)
        sessions.append(s)
        return s

    yield open_session
    for s in sessions:
        s.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_every_role_signs_in_and_every_chart_draws(session):
    seed_small()
    for username in ("viewer", "pm", "risk", "admin", "integration"):
        s = session(username)
        s.dashboard()
        painted = s.painted()
        assert all(count > 50 for count in painted.values()), (username, painted)
        controls = s.page.locator("#controls").count()
        assert controls == (0 if username == "viewer" else 1), username
        if username == "viewer":
            assert s.page.locator("form.control").count() == 0
        if username == "risk":
            screenshot(s.page, "dashboard.png")
        s.page.click("#sign-out")
        s.page.wait_for_url("**/accounts/login/")
        assert s.errors == [], (username, s.errors)


def test_preview_then_confirm_changes_the_allocation_shown_and_the_page_refreshes(session):
    portfolio = seed_small()
    risk = get_user_model().objects.get(username="risk")
    policy_create_version(
        portfolio=portfolio, actor=Actor.of_user(risk), reason="test", changes={"approval_threshold": 2.0}
    )
    s = session("pm")
    s.dashboard()
    treemap = "() => echarts.getInstanceByDom(document.getElementById('chart-allocation')).getOption().series[0].data"
    before = s.page.evaluate(treemap)
    runs = AllocationRun.objects.count()
    s.page.select_option("#rebalance-form select[name=allocation_method]", "equal_weight")
    s.page.check("#rebalance-form input[name=force_rebalance]")
    s.page.click("#rebalance-form button[type=submit]")
    s.page.wait_for_selector("#preview-moves tbody tr")
    assert "applies at once" in s.page.inner_text("#preview-approval")
    assert AllocationRun.objects.count() == runs  # the preview wrote nothing
    s.page.click("#confirm-form button[type=submit]")
    s.page.wait_for_selector("#run-status")
    assert s.page.inner_text("#run-status") == "applied"
    assert AllocationRun.objects.count() == runs + 1

    s.dashboard("?poll=300")
    after = s.page.evaluate(treemap)
    assert after != before
    # equal weights applied at once: every strategy now holds the same share
    assert len({round(tile["value"], 4) for tile in after if not tile["name"].startswith("others")}) == 1

    # another officer's change appears without reloading the page
    version = s.page.get_attribute("#summary", "data-version")
    pending_run(portfolio, get_user_model().objects.get(username="risk2"))
    s.page.wait_for_function(f"document.getElementById('summary').dataset.version !== '{version}'")
    s.page.wait_for_function("document.getElementById('s-pending').textContent === '1'")
    assert s.errors == []


def test_a_second_officer_approves_from_the_page(session):
    portfolio = seed_small()
    run = pending_run(portfolio, get_user_model().objects.get(username="risk"))
    s = session("risk2")
    s.dashboard()
    assert s.page.locator(f".pending-run[data-run='{run.public_id}']").count() == 1
    s.page.fill(f".pending-run[data-run='{run.public_id}'] #approve-form input[name=reason]", "checked the moves")
    s.page.click(f".pending-run[data-run='{run.public_id}'] #approve-form button[type=submit]")
    s.page.wait_for_selector("#run-status")
    assert s.page.inner_text("#run-status") == "applied"
    run.refresh_from_db()
    assert run.status == "applied" and run.decided_by.username == "risk2"
    assert "checked the moves" in s.page.inner_text("#trail")
    assert s.errors == []


def test_the_run_page_shows_the_stages_of_the_api_explanation(session):
    portfolio = seed_small()
    run = AllocationRun.objects.filter(portfolio=portfolio, status="applied").order_by("-id").first()
    s = session("viewer")
    s.page.goto(f"{s.base}/portfolios/demo/runs/{run.public_id}/")
    row = s.page.locator("#stages tbody tr").first
    code = row.get_attribute("data-strategy")
    api = s.page.request.get(f"{s.base}/api/v1/portfolios/demo/runs/{run.public_id}/").json()
    explained = api["explanation"]["strategies"][code]
    for stage in ("base", "after_signals", "after_smoothing", "after_caps", "final"):
        shown = float(row.locator(f"td[data-stage={stage}]").inner_text())
        assert shown == pytest.approx(explained[stage], abs=5e-7), stage
    screenshot(s.page, "run.png")
    assert s.errors == []
