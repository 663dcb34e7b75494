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

# Show the tooltip of the first data item whose name (treemap) or code (scatter, [x, y, code, ...])
# holds ``text``. A treemap's data indices count its root first.
SHOW_TIP_OF = """([id, text]) => {
  const chart = echarts.getInstanceByDom(document.getElementById(id));
  const series = chart.getOption().series;
  const named = d => String(Array.isArray(d) ? d[2] : d.name).includes(text);
  const seriesIndex = series.findIndex(s => s.data.some(named));
  const found = series[seriesIndex].data.findIndex(named);
  const dataIndex = series[seriesIndex].type === "treemap" ? found + 1 : found;
  chart.dispatchAction({ type: "showTip", seriesIndex: seriesIndex, dataIndex: dataIndex });
}"""

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
            for chart in CHARTS:  # one picture per chart, to look at its labels (issue 21 item 21)
                s.page.locator(f"#{chart}").screenshot(path=str(SCREENSHOTS / f"{chart}.png"))
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
    # selectors, not wait_for_function: its predicate is evaluated from a string, which the page's
    # Content-Security-Policy (no 'unsafe-eval') refuses
    s.page.wait_for_selector(f"#summary:not([data-version='{version}'])")
    s.page.wait_for_selector("#s-pending:text-is('1')")
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
        cell = row.locator(f"td[data-stage={stage}]")
        assert float(cell.get_attribute("data-value")) == pytest.approx(explained[stage], abs=1e-12), (
            stage
        )  # the API rounds to 12 digits
        assert cell.inner_text() == f"{explained[stage] * 100:.2f} %", stage  # percent of equity, as the dashboard
    screenshot(s.page, "run.png")
    assert s.errors == []


def test_text_from_the_data_is_text_in_tooltips_and_lists_under_the_policy(session):
    """Issue 21 item 20: tooltips and lists were HTML built from the data, and no page had a
    Content-Security-Policy. A strategy named (and coded) ``<img src=x onerror=...>`` now shows as
    those characters, runs nothing, and the policy the page runs under refuses inline script."""
    from allocations.models import AllocationLine, Strategy

    portfolio = seed_small()
    payload = '<img src=x onerror="window.__xss=1">'
    in_force = AllocationRun.objects.filter(portfolio=portfolio, status="applied").order_by("-id").first()
    bound = AllocationLine.objects.filter(run=in_force).order_by("-limit_excess", "-target_weight").first()
    AllocationLine.objects.filter(pk=bound.pk).update(binding_limit="strategy", limit_excess=0.01)
    Strategy.objects.filter(pk=bound.strategy_id).update(name=payload, code=payload)
    s = session("viewer")
    response = s.page.goto(f"{s.base}/portfolios/demo/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    s.page.wait_for_selector("body[data-drawn=true]")
    assert payload in s.page.inner_text("#risk-limits")  # the list: the characters, not an element
    assert s.page.locator("#risk-limits img").count() == 0
    for chart in ("chart-allocation", "chart-scatter"):  # the tooltip of that strategy, as a pointer shows it
        s.page.evaluate(SHOW_TIP_OF, [chart, "<img"])
        tip = s.page.locator(f"#{chart} div", has_text="<img").last
        tip.wait_for()
        assert payload in tip.inner_text() and tip.locator("img").count() == 0, chart
    # an inline handler the page did not ship (what an unescaped name would have become) is refused
    s.page.evaluate(
        "html => { const e = document.createElement('div'); e.innerHTML = html; document.body.append(e); }",
        '<img src=x onerror="window.__xss=2">',
    )
    s.page.wait_for_timeout(300)
    assert s.page.evaluate("() => window.__xss") is None
    screenshot(s.page, "dashboard-escaped.png")
    assert any("Content Security Policy" in e for e in s.errors), s.errors
    unexpected = [e for e in s.errors if "Content Security Policy" not in e and "Failed to load resource" not in e]
    assert unexpected == []


# Every line of text ECharts drew in a chart (zrender draws each line of a label as a "tspan"): its
# text and its box on the canvas, in the chart's own geometry.
LABEL_BOXES = """id => {
  const chart = echarts.getInstanceByDom(document.getElementById(id));
  return chart.getZr().storage.getDisplayList(true)
    .filter(el => el.type === "tspan" && !el.invisible && !el.ignore && el.style && el.style.text)
    .map(el => {
      const box = el.getBoundingRect().clone();
      if (el.transform) box.applyTransform(el.transform);
      // the glyphs are as tall as the font, whatever line height the box was laid out with
      const size = parseFloat(((el.style.font || "").match(/([\\d.]+)px/) || [0, 12])[1]);
      return { text: String(el.style.text), x: box.x, y: box.y, width: box.width, height: Math.max(box.height, size) };
    });
}"""


def _overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of lines of text whose boxes intersect (1 px of slack)."""
    return [
        (a["text"], b["text"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["x"] + 1 < b["x"] + b["width"]
        and b["x"] + 1 < a["x"] + a["width"]
        and a["y"] + 1 < b["y"] + b["height"]
        and b["y"] + 1 < a["y"] + a["height"]
    ]


@pytest.mark.parametrize("strategies", [12, 80])  # 80: small tiles and an "others" tile
def test_charts_read_as_a_risk_officer_reads_them(session, strategies):
    """Issue 21 item 21: the treemap's labels (name over percentage) and the schedule timeline's
    overlapped; the trends chart's axis stopped below the sector cap it should show; the risk card's
    bar chart had no title or unit."""
    from allocations.demo import demo_seed

    demo_seed(strategies=strategies, days=70, seed=3, history_days=6)
    s = session("risk")
    s.dashboard()
    for chart in ("chart-allocation", "chart-schedule"):
        boxes = s.page.evaluate(LABEL_BOXES, chart)
        assert any("%" in b["text"] for b in boxes) or chart == "chart-schedule", (chart, boxes)
        assert _overlapping(boxes) == [], chart
        s.page.locator(f"#{chart}").screenshot(path=str(SCREENSHOTS / f"{chart}-{strategies}.png"))
    trends = s.page.evaluate(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('chart-trends'));"
        " return { top: c.getModel().getComponent('yAxis', 0).axis.scale.getExtent()[1],"
        " cap: c.getOption().series[0].markLine.data[0].yAxis }; }"
    )
    assert trends["top"] >= trends["cap"] == 0.3  # the cap's dashed line is inside the axis
    labels = [b["text"] for b in s.page.evaluate(LABEL_BOXES, "chart-trends")]
    assert "sector cap 30.00 %" in labels and "30 %" in labels
    risk = [b["text"] for b in s.page.evaluate(LABEL_BOXES, "chart-risk")]
    assert "Largest risk contributions" in risk and any("variance, %" in t for t in risk), risk
    assert s.errors == []


def test_the_api_docs_and_the_admin_work_under_the_policy(session):
    """Issue 21 item 20: the policy must not break Swagger UI (its start-up script now a URL of its
    own) nor the admin (Django 5.2's admin ships no inline script)."""
    portfolio = seed_small()
    s = session("admin")
    failed: list[str] = []
    s.page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    s.page.goto(f"{s.base}/api/docs/")
    s.page.wait_for_selector(".swagger-ui .opblock")  # the operations, drawn by the start-up script
    run = AllocationRun.objects.filter(portfolio=portfolio).order_by("-id").first()
    for path in ("/admin/", "/admin/allocations/allocationrun/", f"/admin/allocations/allocationrun/{run.pk}/change/"):
        s.page.goto(f"{s.base}{path}")
        s.page.wait_for_selector("#content")
    s.page.goto(f"{s.base}/admin/allocations/allocationrun/")
    s.page.check("#action-toggle")  # the admin's own JavaScript runs: every row selected
    assert s.page.locator("input.action-select:checked").count() == s.page.locator("input.action-select").count() > 0
    assert all(url.endswith("/favicon.ico") for url in failed), failed  # the admin links no icon: the browser asks
    assert [e for e in s.errors if not e.startswith("Failed to load resource")] == []
