"""A signed-in headless Chromium on the dashboard, shared by the browser tests and ``bench/dashboard.py``.

No Django here: the benchmark imports it outside any Django process.
"""

from __future__ import annotations

# Headless, and nothing the browser would do on its own (updates, first-run pages, background
# requests) in the timings or the console.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def launch_chromium(playwright, executable: str):
    """Chromium at ``executable`` (Debian's ``chromium``) started by Playwright with :data:`CHROMIUM_ARGS`."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def sign_in(page, base_url: str, username: str, password: str) -> None:
    """Through the login form, as a person does; returns once it has led to the portfolio list."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base_url}/")
