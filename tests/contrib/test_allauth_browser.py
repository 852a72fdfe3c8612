"""The widget on allauth's login page, in Chromium (real browser, live server).

Skipped without Chromium or playwright, unless WHATSAPP_LOGIN_E2E=1 (as in tests/e2e).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from ..e2e.conftest import CHROMIUM, CHROMIUM_ARGS

MISSING = [
    what
    for what, ok in (
        (f"Chromium at {CHROMIUM}", os.access(CHROMIUM, os.X_OK)),
        ("the playwright package", importlib.util.find_spec("playwright") is not None),
    )
    if not ok
]
if MISSING and os.environ.get("WHATSAPP_LOGIN_E2E", "") not in ("", "0"):
    raise pytest.UsageError("WHATSAPP_LOGIN_E2E=1, but missing: " + ", ".join(MISSING))
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason="needs " + ", ".join(MISSING)),
    pytest.mark.django_db(transaction=True),
]


def test_widget_works_on_allauths_login_page_in_chromium(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Nothing in this test touches the ORM while Playwright's loop runs; the live server
    # answers in its own thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(live_server.url + "/accounts/login/")
            # allauth's own form is still there ...
            assert page.locator('form input[name="login"]').count() == 1
            # ... with the widget under it: QR code, wa.me button, the message, live status.
            page.get_by_role("heading", name="Log in with WhatsApp").wait_for()
            assert page.locator("section.whatsapp-login-allauth svg").count() >= 1
            link = page.locator('a[href^="https://wa.me/996555000001?text=AMT%20LOGIN%20"]')
            assert link.count() >= 1
            status = page.locator("section.whatsapp-login-allauth [role=status]").first
            status.wait_for()
            assert "Waiting for your message" in status.inner_text()
        finally:
            browser.close()
