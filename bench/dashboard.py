"""Dashboard benchmark: a 1,000-strategy portfolio on PostgreSQL, its data requests and the page drawn.

Seeds (once) the portfolio ``dash1k``: 1,000 strategies, 252 days of returns of which the last
``--history-days`` are lived through the services (daily runs, steps, approvals), as
``manage.py seed_demo --portfolio dash1k --strategies 1000 --days 252 --history-days 40``. Starts
the web server as production does, granian with ``--workers`` workers of one thread (DEBUG off; the
static files served by Django's static handler in the same processes, as whitenoise does in production),
signs in as ``admin`` in headless Chromium (Debian's ``chromium``, driven by Playwright) and prints:

- each data request of the dashboard (``/portfolios/dash1k/data/*.json``): the median and max of
  ``--repeats`` requests, timed by the browser's Resource Timing (responseEnd - requestStart);
- the page fully drawn: ``performance.now()`` when every chart has fired ECharts' "finished"
  (``window.__dashboardDrawnAt``, the browser's own clock from navigation start), cold (first
  visit, nothing cached) and the median of ``--loads`` warm visits.

Needs ``static/vendor/echarts.min.js`` (``make install``). Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cae_bench .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from support import ROOT, database_label, django_env, migrate, quiet_server, wait_for

sys.path.insert(0, str(ROOT))  # the browser session the browser tests use, and Django for granian

from tests.allocations.pages.browser_support import launch_chromium, sign_in  # noqa: E402

SLUG = "dash1k"
PARTS = ("summary", "allocation", "history", "risk", "schedule")
TIMING = """url => {
  const e = performance.getEntriesByType('resource').filter(r => r.name.endsWith(url)).pop();
  return e ? e.responseEnd - e.requestStart : null;
}"""


def wsgi():
    """The application granian serves here: Django's, with its static files."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    return StaticFilesHandler(get_wsgi_application())


def prepare(python: str, env: dict, history_days: int) -> None:
    migrate(python, env)
    seed = [python, "manage.py", "seed_demo", "--portfolio", SLUG, "--strategies", "1000", "--days", "252"]
    subprocess.run([*seed, "--history-days", str(history_days)], cwd=ROOT, env=env, check=True)


def summary(ms: list[float]) -> str:
    return f"median {statistics.median(ms):6.1f} ms   max {max(ms):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--repeats", type=int, default=10, help="requests per data view")
    parser.add_argument("--loads", type=int, default=5, help="warm page loads")
    parser.add_argument("--history-days", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2, help="granian workers (production: one per core)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--allow-sqlite", action="store_true", help="run even without a PostgreSQL DATABASE_URL")
    args = parser.parse_args()
    env = django_env(args.allow_sqlite)
    if not (ROOT / "static" / "vendor" / "echarts.min.js").exists():
        sys.exit("static/vendor/echarts.min.js is missing: run `make install`")
    from playwright.sync_api import sync_playwright

    python = sys.executable
    prepare(python, env, args.history_days)
    granian = Path(python).parent / "granian"
    server = quiet_server(
        [str(granian), "--interface", "wsgi", "--factory", "--working-dir", "bench", "--no-ws"]
        + ["--host", "127.0.0.1", "--port", str(args.port), "--workers", str(args.workers)]
        + ["--blocking-threads", "1", "dashboard:wsgi"],
        env,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(base + "/health/")
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, args.chromium)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sign_in(page, base, "admin", os.environ.get("DEMO_PASSWORD", "demo"))

            drawn: list[float] = []
            for _ in range(1 + args.loads):
                page.goto(f"{base}/portfolios/{SLUG}/")
                page.wait_for_selector("body[data-drawn=true]", timeout=30_000)
                drawn.append(page.evaluate("window.__dashboardDrawnAt"))

            requests: dict[str, list[float]] = {part: [] for part in PARTS}
            for _ in range(args.repeats):
                for part in PARTS:
                    url = f"/portfolios/{SLUG}/data/{part}.json"
                    page.evaluate("performance.clearResourceTimings()")
                    page.evaluate("url => fetch(url).then(r => r.json())", url)
                    requests[part].append(page.evaluate(TIMING, url))
            browser.close()

        database = database_label(env)
        print(
            f"dashboard of {SLUG}: 1,000 strategies x 252 days, {args.history_days} days of history, {database}, "
            f"granian with {args.workers} workers"
        )
        print(f"data requests ({args.repeats} each, browser Resource Timing, responseEnd - requestStart):")
        for part in PARTS:
            print(f"  {part + '.json':<16} {summary(requests[part])}")
        print("page fully drawn (every chart 'finished', performance.now() from navigation start):")
        print(f"  cold (first visit)  {drawn[0]:6.1f} ms")
        print(f"  warm ({args.loads} visits)     {summary(drawn[1:])}")
        if errors:
            sys.exit(f"console errors: {errors}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
